"""Estimator specs in a configuration file, checked field by field before anything runs.

A spec is the format snapshots record (:func:`streams.snapshots.spec_of`):
``{factory = "module:Class", params = {...}}``, a nested estimator as a nested spec (an
optimizer), a River pipeline as ``{factory = "river.compose:Pipeline", steps = [spec, ...]}``.
The file may also spell a factory ``river.linear_model.LogisticRegression``; :func:`check_spec`
normalizes it to ``river.linear_model:LogisticRegression`` and builds the estimator, raising a
:class:`~learners.errors.ConfigError` that names the field and what to do about it.

>>> spec, estimator = check_spec(
...     {"factory": "river.linear_model.LogisticRegression", "params": {"l2": 0.1}},
...     "models.click.model", allow=())
>>> spec
{'factory': 'river.linear_model:LogisticRegression', 'params': {'l2': 0.1}}
>>> check_spec({"factory": "river.linear_model:LogisticRegression", "params": {"alpah": 1}},
...            "models.click.model", allow=())
Traceback (most recent call last):
...
learners.errors.ConfigError: models.click.model.params.alpah: LogisticRegression takes no \
parameter 'alpah'; it takes: optimizer, loss, l2, l1, intercept_init, intercept_lr, \
clip_gradient, initializer
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import sys
from collections.abc import Mapping
from typing import Any

from learners.errors import ConfigError
from streams.snapshots import factory_allowed
from streams.wire.config_file import toml_type

__all__ = ["check_spec", "kind_of", "public_spec", "require_kind"]

_SPEC_KEYS = ("factory", "params", "steps")
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_FACTORY = re.compile(
    rf"({_DOTTED}):([A-Za-z_][A-Za-z0-9_]*)|({_DOTTED})\.([A-Za-z_][A-Za-z0-9_]*)"
)
_PIPELINE = "river.compose:Pipeline"


def check_spec(spec: Any, field: str, *, allow: tuple[str, ...]) -> tuple[dict[str, Any], Any]:
    """The spec at ``field`` normalized, and a fresh estimator built from it (to check it: the
    caller builds its own with :func:`streams.snapshots.build`)."""
    if not isinstance(spec, dict):
        raise ConfigError(
            field,
            f'an estimator spec is a table, {{factory = "module:Class", params = {{...}}}}; '
            f"got {toml_type(spec)}",
        )
    _known_keys(spec, field, _SPEC_KEYS)
    if "factory" not in spec:
        raise ConfigError(f"{field}.factory", 'missing: name the estimator as "module:Class"')
    factory = _normalized(spec["factory"], f"{field}.factory")
    cls = _factory_class(factory, f"{field}.factory", allow)
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{field}.params", f"a table of parameters, got {toml_type(params)}")
    if "steps" in spec:
        return _pipeline(factory, cls, spec["steps"], params, field, allow)
    _known_parameters(cls, params, field)
    normalized, built = {}, {}
    for key, value in params.items():
        if isinstance(value, dict) and "factory" in value:
            normalized[key], built[key] = check_spec(value, f"{field}.params.{key}", allow=allow)
        else:
            normalized[key] = built[key] = value
    estimator = _construct(cls, f"{field}.params", **built)
    return {"factory": factory, "params": normalized}, estimator


def _pipeline(
    factory: str, cls: type, steps: Any, params: dict, field: str, allow: tuple[str, ...]
) -> tuple[dict[str, Any], Any]:
    from river import compose

    if not issubclass(cls, compose.Pipeline):
        raise ConfigError(
            f"{field}.steps", f"only a pipeline ({_PIPELINE}) takes steps, not {factory}"
        )
    if params:
        raise ConfigError(f"{field}.params", "a pipeline takes steps, no params")
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f"{field}.steps", "a non-empty array of estimator specs, in order")
    checked = [check_spec(step, f"{field}.steps[{i}]", allow=allow) for i, step in enumerate(steps)]
    estimator = _construct(cls, f"{field}.steps", *(built for _, built in checked))
    return {"factory": factory, "params": {}, "steps": [spec for spec, _ in checked]}, estimator


def _known_keys(table: Mapping[str, Any], field: str, known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{field}.{key}", f"unknown key; known: {', '.join(known)}")


def _normalized(factory: Any, field: str) -> str:
    """``module:Class`` from ``module:Class`` or ``module.Class``."""
    match = _FACTORY.fullmatch(factory) if isinstance(factory, str) else None
    if match is None:
        raise ConfigError(
            field,
            f'a factory is "module:Class" (or "module.Class"), such as '
            f'"river.linear_model:LogisticRegression"; got {factory!r}',
        )
    module, name = (match.group(1), match.group(2)) if match.group(1) else match.group(3, 4)
    return f"{module}:{name}"


def _factory_class(factory: str, field: str, allow: tuple[str, ...]) -> type:
    module_name, _, name = factory.partition(":")
    if not factory_allowed(module_name, allow):
        permitted = ", ".join(("river", "learners", *allow))
        raise ConfigError(
            field,
            f"module {module_name!r} is not on the allow-list ({permitted}): add it to "
            f"[modules] allow = [...] if you trust it",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(field, f"module {module_name!r} cannot be imported: {error}") from None
    cls = None if name.startswith("_") else getattr(module, name, None)
    if cls is None:
        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(field, f"no estimator {name!r} in {module_name}{hint}")
    if not isinstance(cls, type):
        raise ConfigError(field, f"{factory} is not a class: a factory is an estimator's class")
    return cls


def _known_parameters(cls: type, params: Mapping[str, Any], field: str) -> None:
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # a class without a signature (a C type): let it say
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    accepted = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    for key in params:
        if key not in accepted:
            takes = f"it takes: {', '.join(accepted)}" if accepted else "it takes none"
            raise ConfigError(
                f"{field}.params.{key}", f"{cls.__name__} takes no parameter {key!r}; {takes}"
            )


def _construct(cls: type, field: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return cls(*args, **kwargs)
    except Exception as error:  # a constructor may refuse a value with any exception
        raise ConfigError(
            field, f"{cls.__name__} refused its parameters: {type(error).__name__}: {error}"
        ) from None


def kind_of(estimator: Any) -> str:
    """What a River estimator is, for the checks and messages: ``classifier``,
    ``regressor``, or a description of anything else.

    >>> from river import linear_model, preprocessing
    >>> kind_of(linear_model.LinearRegression()), kind_of(preprocessing.StandardScaler())
    ('regressor', 'a transformer, neither a classifier nor a regressor')
    """
    from river import base

    if isinstance(estimator, base.Classifier):
        return "classifier"
    if isinstance(estimator, base.Regressor):
        return "regressor"
    if isinstance(estimator, base.Transformer):
        return "a transformer, neither a classifier nor a regressor"
    if isinstance(estimator, base.Estimator):
        return "a River estimator that is neither a classifier nor a regressor"
    return "not a River estimator"


def require_kind(estimator: Any, kinds: tuple[str, ...], field: str, why: str) -> None:
    """Raise a :class:`~learners.errors.ConfigError` at ``field`` unless ``estimator`` is of
    one of ``kinds`` (``classifier``, ``regressor``); ``why`` says what needs it."""
    kind = kind_of(estimator)
    if kind in kinds:
        return
    name = type(estimator).__name__
    if kind == "regressor":
        reason = f"{name} is a regressor where a classifier is needed: {why}"
    else:
        reason = f"{name} is {kind}: {why}"
    raise ConfigError(field, reason)


def public_spec(spec: Any) -> Any:
    """``spec`` with each factory named by the shortest public module that exports its class
    (``river.linear_model:LogisticRegression`` for ``river.linear_model.log_reg``), the way
    a reader would write it; the class is the same.

    >>> public_spec({"factory": "river.optim.sgd:SGD", "params": {"lr": 0.1}})
    {'factory': 'river.optim:SGD', 'params': {'lr': 0.1}}
    """
    if isinstance(spec, dict):
        named = {key: public_spec(value) for key, value in spec.items()}
        if isinstance(spec.get("factory"), str):
            named["factory"] = _public_factory(spec["factory"])
        return named
    if isinstance(spec, list):
        return [public_spec(value) for value in spec]
    return spec


def _public_factory(factory: str) -> str:
    module_name, _, name = factory.partition(":")
    cls = getattr(sys.modules.get(module_name), name, None)
    parts = module_name.split(".")
    for end in range(min(2, len(parts)), len(parts)):  # a package, never the top level alone
        parent = ".".join(parts[:end])
        if cls is not None and getattr(sys.modules.get(parent), name, None) is cls:
            return f"{parent}:{name}"
    return factory
