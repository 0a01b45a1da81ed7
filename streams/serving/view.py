"""What serve scores with: for each model, the live object or a version loaded from a snapshot.

In the worker that learns a model, serve reads the very object that learn updates (freshness
zero), unless an operator pinned a version (``promote``, ``rollback``). In a worker that does
not learn it, serve uses the newest snapshot the :class:`streams.serving.follower.ModelFollower` has
loaded, or the pinned one. Swapping is one dictionary assignment between two batches: no query
waits for it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from streams.models.category import CategoryModel
from streams.models.registry import LiveModel, ModelRegistry

__all__ = ["Pin", "Serving"]


class Pin(NamedTuple):
    """A served version chosen by a ``promote`` or ``rollback`` command, and its issuer."""

    version: int
    issued_by: str


class Serving:
    """The serving view of a worker's models (what :func:`streams.agents.serve.predict` and
    the join read): ``models`` by name and the ``category`` model, each the live one of the
    registry unless a snapshot was installed in its place (each scored model carries the
    feature set its rows are made of).

    >>> from streams.models.registry import default_models
    >>> live = default_models()
    >>> view = Serving(live)
    >>> view.models["click"] is live["click"], view.loaded
    (True, frozenset())
    >>> view.install("click", live["click"].untrained_copy())
    >>> view.models["click"] is live["click"], sorted(view.loaded)
    (False, ['click'])
    """

    def __init__(self, models: ModelRegistry) -> None:
        self._registry = models
        self._loaded: dict[str, Any] = {}  # name -> model from a snapshot, served instead
        #: pinned versions (``promote``/``rollback``) and who issued them; absent: the newest
        self.pins: dict[str, Pin] = {}

    @property
    def models(self) -> dict[str, LiveModel]:
        loaded = self._loaded
        return {name: loaded.get(name, live) for name, live in self._registry.items()}

    @property
    def category(self) -> CategoryModel:
        live = self._registry.category
        return self._loaded.get(live.name, live)

    @property
    def loaded(self) -> frozenset[str]:
        """The models served from a loaded snapshot (not the live object)."""
        return frozenset(self._loaded)

    def serves(self, name: str) -> bool:
        """Whether ``name`` is one of the models served (a scored model or the category's)."""
        return name in self._registry or name == self._registry.category.name

    def version(self, name: str) -> int:
        """The version served now."""
        model = self.category if name == self._registry.category.name else self.models[name]
        return model.version

    def install(self, name: str, model: Any) -> None:
        """Serve ``model`` (loaded from a snapshot) for ``name`` from the next batch on."""
        self._loaded[name] = model

    def serve_live(self, name: str) -> None:
        """Serve the live model again (the one this worker learns)."""
        self._loaded.pop(name, None)
