"""A configuration as it runs, every default written out: what ``adstream config show``
prints, and a file that loads back to the same configuration."""

from __future__ import annotations

import dataclasses
from typing import Any

from streams import snapshots
from streams.config.estimators import public_spec
from streams.config.schema import Config
from streams.wire.settings import Settings

__all__ = ["SECRETS", "resolved"]

#: Settings never printed (the fields :class:`Settings` keeps out of its ``repr``).
SECRETS = frozenset(field.name for field in dataclasses.fields(Settings) if not field.repr)


def resolved(config: Config, settings: Settings | None = None) -> dict[str, Any]:
    """``config`` as plain tables: each estimator with all its hyperparameters (those the
    file left out at their defaults; a factory named by its public module), each model's
    objective, label and feature set, every feature set in full, and, given ``settings``,
    a ``[settings]`` table of them without secrets or the file's own path. Values a factory
    leaves unset (``None``, which TOML cannot write) are left out: they load back unset.

    >>> from streams.config.load import load_config
    >>> table = resolved(load_config(None))
    >>> table["models"]["click"]["model"]
    {'factory': 'learners.ftrl:FTRLLogisticRegression', \
'params': {'alpha': 0.1, 'beta': 1.0, 'l1': 0.0, 'l2': 1.0}}
    >>> sorted(table), sorted(resolved(load_config(None), Settings())["settings"])[:3]
    (['category', 'features', 'models', 'modules'], ['agents', 'alert_warmup_examples', 'app_id'])
    """
    tables: dict[str, Any] = {}
    if settings is not None:
        tables["settings"] = {
            field.name: getattr(settings, field.name)
            for field in dataclasses.fields(settings)
            if field.name not in SECRETS and field.name != "config"
        }
    tables["modules"] = {"allow": list(config.allow)}
    tables["features"] = {name: spec.to_mapping() for name, spec in config.features.items()}
    tables["models"] = {
        name: {
            "objective": model.objective,
            "label": model.label,
            "features": model.features,
            "model": _full_spec(model.model, config),
        }
        for name, model in config.models.items()
    }
    tables["category"] = {"base": _full_spec(config.category.base, config)}
    return tables


def _full_spec(spec: dict[str, Any], config: Config) -> dict[str, Any]:
    """Every hyperparameter of the estimator ``spec`` builds, as its snapshots record them."""
    return _without_none(public_spec(snapshots.spec_of(snapshots.build(spec, config.allow))))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value
