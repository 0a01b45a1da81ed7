"""Signed model snapshots: the format on the ``models`` topic, signing, verification, reading.

A snapshot is a msgpack map: metadata (DESIGN §3: model, version, parent, created_at,
n_examples, offsets, metrics, spec, library and code versions) plus ``payload`` (the pickled
model) and ``hmac``, an HMAC-SHA256 over the canonical metadata and the payload, keyed by
``ADSTREAM_SNAPSHOT_KEY``. :func:`load` verifies the signature *before* it unpickles anything:
an unsigned or tampered snapshot raises :class:`SnapshotRefused` and its payload is never
touched by pickle.

>>> from learners import FTRLLogisticRegression
>>> key = b"k" * 32
>>> model = FTRLLogisticRegression(alpha=0.1)
>>> model.learn_one({1: 1.0}, True)
>>> raw = dump(model, key=key, model="click", version=1, parent=None, n_examples=1,
...            offsets={"examples:0": 7}, metrics={}, created_at=1_700_000_000_000)
>>> meta, loaded = load(raw, key=key)
>>> meta["version"], loaded.predict_proba_one({1: 1.0}) == model.predict_proba_one({1: 1.0})
(1, True)
>>> load(raw.replace(b"click", b"clack"), key=key)
Traceback (most recent call last):
...
streams.snapshots.signed.SnapshotRefused: bad signature: tampered, or signed with another key
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib
import importlib.metadata
import pickle
import platform
from collections.abc import Iterable, Mapping
from typing import Any

import msgpack
from river import compose

from learners.errors import AdstreamError
from streams.wire import contracts

__all__ = [
    "MAX_SNAPSHOT_BYTES",
    "SnapshotRefused",
    "build",
    "dump",
    "factories",
    "factory_allowed",
    "library_versions",
    "load",
    "read_metadata",
    "spec_of",
    "verify",
]

MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024
_LIBRARIES = ("adstream", "river", "numpy", "msgpack", "faust-streaming")
_FACTORY_PACKAGES = ("learners", "river")  # what a spec may name, even a signed one


class SnapshotRefused(AdstreamError, ValueError):
    """A snapshot that is unsigned, tampered, malformed or from another key: never unpickled."""


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a pickled model depends on."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> dict[str, str]:
    # once per process: reading the installed packages' metadata takes a millisecond
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def spec_of(model: Any) -> dict[str, Any]:
    """The factory (``module:Class``) and the hyperparameters a model was built with (a
    wrapper with an ``estimator`` is described by its estimator); :func:`build` makes a fresh
    estimator from it. A River pipeline is described by its steps, each a spec, in order
    (River names a pipeline's parameters after its steps, without their classes).

    >>> from learners import FTRLLogisticRegression
    >>> spec = spec_of(FTRLLogisticRegression(alpha=0.3))
    >>> spec["factory"], build(spec).alpha
    ('learners.ftrl:FTRLLogisticRegression', 0.3)
    >>> from river import compose, linear_model, preprocessing
    >>> scaled = compose.Pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression())
    >>> [type(step).__name__ for step in build(spec_of(scaled)).steps.values()]
    ['StandardScaler', 'LogisticRegression']
    """
    return _describe(getattr(model, "estimator", model))


def factories(spec: Any) -> list[str]:
    """Every estimator a spec names, nested ones included, in order: what a model is made of,
    whatever learning did to its hyperparameters (River's forest turns ``max_features="sqrt"``
    into a number when it first learns, so a learned model's spec differs from the one it
    was built with).

    >>> from river import forest
    >>> factories(spec_of(forest.ARFClassifier(n_models=1)))
    ['river.forest.adaptive_random_forest:ARFClassifier', 'river.metrics.accuracy:Accuracy', \
'river.metrics.confusion:ConfusionMatrix', 'river.drift.adwin:ADWIN', 'river.drift.adwin:ADWIN']
    """
    if isinstance(spec, Mapping):
        own = [spec["factory"]] if "factory" in spec else []
        return own + [name for value in spec.values() for name in factories(value)]
    if isinstance(spec, list | tuple):
        return [name for value in spec for name in factories(value)]
    return []


def _describe(estimator: Any) -> dict[str, Any]:
    if isinstance(estimator, compose.Pipeline):
        steps = [_describe(step) for step in estimator.steps.values()]
        return {**_spec(type(estimator), {}), "steps": steps}
    params = estimator._get_params() if hasattr(estimator, "_get_params") else {}
    return _spec(type(estimator), params)


def _spec(cls: type, params: Mapping[str, Any]) -> dict[str, Any]:
    return {"factory": f"{cls.__module__}:{cls.__qualname__}", "params": _plain(params)}


def _plain(value: Any) -> Any:
    """Hyperparameters as msgpack-able values; a nested estimator, which River describes as
    ``(class, params)``, becomes its spec."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], type):
        return _spec(*value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def build(spec: Mapping[str, Any], allow: Iterable[str] = ()) -> Any:
    """A fresh, unlearned estimator from a spec (nested specs are built first).

    A factory must come from ``learners``, ``river`` or a package or module named in
    ``allow`` (the operator's allow-list, ``[modules] allow`` of the configuration file);
    anything else raises :class:`SnapshotRefused` before it is imported.

    >>> build({"factory": "river.linear_model:LinearRegression", "params": {"l2": 0.5}}).l2
    0.5
    >>> build({"factory": "os:system", "params": {}})
    Traceback (most recent call last):
    ...
    streams.snapshots.signed.SnapshotRefused: not a model factory of ours: os:system
    """
    module, _, name = spec["factory"].partition(":")
    if not factory_allowed(module, allow):
        raise SnapshotRefused(f"not a model factory of ours: {spec['factory'][:100]}")
    factory = getattr(importlib.import_module(module), name)
    if "steps" in spec:  # a pipeline: its steps, in order
        return factory(*(build(step, allow) for step in spec["steps"]))
    params = {
        key: build(value, allow) if isinstance(value, Mapping) and "factory" in value else value
        for key, value in spec.get("params", {}).items()
    }
    return factory(**params)


def factory_allowed(module: str, allow: Iterable[str] = ()) -> bool:
    """Whether :func:`build` may import ``module``: it is in (or is) ``learners``, ``river``
    or one of the packages or modules in ``allow``.

    >>> factory_allowed("river.linear_model"), factory_allowed("mylab.models", ["mylab"])
    (True, True)
    >>> factory_allowed("mylab_old.models", ["mylab"]), factory_allowed("pickle")
    (False, False)
    """
    return any(
        module == package or module.startswith(package + ".")
        for package in (*_FACTORY_PACKAGES, *allow)
    )


def _signature(key: bytes, meta: Mapping[str, Any], payload: bytes) -> bytes:
    canonical = msgpack.packb(_sorted(meta), use_bin_type=True)
    return hmac.new(key, canonical + payload, hashlib.sha256).digest()


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return value


def dump(estimator: Any, *, key: bytes, **meta: Any) -> bytes:
    """Serialize and sign a snapshot of ``estimator``; ``meta`` holds the DESIGN §3 fields
    (model, version, parent, n_examples, offsets, metrics, created_at)."""
    if not key:
        raise ValueError("a snapshot key is required (ADSTREAM_SNAPSHOT_KEY)")
    meta = {
        "v": contracts.SCHEMA_VERSION,
        **meta,
        "spec": spec_of(estimator),
        "libraries": library_versions(),
    }
    payload = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    record = {**meta, "payload": payload, "hmac": _signature(key, meta, payload)}
    return msgpack.packb(record, use_bin_type=True)


def verify(data: bytes, *, key: bytes) -> dict[str, Any]:
    """The metadata of a correctly signed snapshot; :class:`SnapshotRefused` otherwise.
    Nothing is unpickled."""
    meta, _ = _verified(data, key)
    return meta


def load(data: bytes, *, key: bytes) -> tuple[dict[str, Any], Any]:
    """Verify, then unpickle: ``(metadata, model)``; :class:`SnapshotRefused` otherwise."""
    meta, payload = _verified(data, key)
    return meta, pickle.loads(payload)  # the signature was verified first


def _verified(data: bytes, key: bytes) -> tuple[dict[str, Any], bytes]:
    if not key:
        raise SnapshotRefused("no snapshot key configured: refusing to trust any snapshot")
    meta = read_metadata(data)
    payload, signature = meta.pop("payload"), meta.pop("hmac", None)
    if not isinstance(signature, bytes):
        raise SnapshotRefused("unsigned snapshot")
    if not hmac.compare_digest(signature, _signature(key, meta, payload)):
        raise SnapshotRefused("bad signature: tampered, or signed with another key")
    return meta, payload


def read_metadata(data: bytes) -> dict[str, Any]:
    """The snapshot's fields without verifying or unpickling (for listing)."""
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotRefused(f"oversized snapshot: {len(data)} bytes")
    try:
        record = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as error:  # msgpack raises several unrelated types on garbage
        raise SnapshotRefused(f"not a snapshot: {type(error).__name__}") from None
    if type(record) is not dict or not isinstance(record.get("payload"), bytes):
        raise SnapshotRefused("not a snapshot: no payload")
    for field in ("model", "version"):
        if field not in record:
            raise SnapshotRefused(f"not a snapshot: missing {field}")
    return record
