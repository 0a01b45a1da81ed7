"""Reading and checking a configuration file as a whole: :func:`load_config`.

A file has up to five tables, each optional; one left out is the default configuration's
(``streams/config/default.toml``, the demo's):

- ``[settings]``: base values of :class:`~streams.wire.settings.Settings` (``ADSTREAM_*``
  variables override them one by one);
- ``[modules]``: ``allow = [...]``, packages or modules beyond ``river`` and ``learners`` that
  estimator specs may name;
- ``[features.<name>]``: named feature sets (:class:`learners.feature_spec.FeatureSpec`); the
  default file's sets (``default``) stay available unless the file redefines them;
- ``[models.<name>]``: the scored models, all of them (``objective``, ``label``,
  ``features``, ``model``);
- ``[category]``: ``base``, the binary classifier each node of the category model clones.

Nothing half-configured starts: every field is checked, every estimator built, and each model
tried on one example (:mod:`streams.config.trial`) before :func:`load_config` returns.

>>> config = load_config(None)
>>> [(m.name, m.objective, m.label, m.model["factory"]) for m in config.models.values()]
[('click', 'engagement', 'click', 'learners.ftrl:FTRLLogisticRegression'), \
('quality', 'quality', 'rating', 'learners.ftrl:FTRLLogisticRegression')]
"""

from __future__ import annotations

import re
from typing import Any

from learners.errors import ConfigError
from learners.feature_spec import FeatureSpec
from streams.config.estimators import check_spec, require_kind
from streams.config.schema import (
    DEFAULT_FEATURES_NAME,
    LABELS,
    RANKED_OBJECTIVES,
    CategoryConfig,
    Config,
    ModelConfig,
)
from streams.config.trial import try_config
from streams.wire.config_file import DEFAULT_CONFIG, read_toml, toml_type
from streams.wire.settings import Settings

__all__ = ["TABLES", "load_config"]

#: The top-level tables of a configuration file.
TABLES = ("settings", "modules", "features", "models", "category")
_MODEL_KEYS = ("objective", "label", "features", "model")
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def load_config(path: str | None, settings_n_bits: int = 20) -> Config:
    """The configuration of the file at ``path`` (``None`` or empty: the default file),
    checked whole; feature sets that name no ``n_bits`` hash to ``settings_n_bits``.

    Raises :class:`~learners.errors.ConfigError` naming the first field that cannot be used
    (a dotted path such as ``models.click.model.params.alpha``) and why.
    """
    file = path or DEFAULT_CONFIG
    tables = read_toml(file)
    defaults = tables if file == DEFAULT_CONFIG else read_toml(DEFAULT_CONFIG)
    for key, value in tables.items():
        if key not in TABLES:
            raise ConfigError(key, f"unknown table; known: {', '.join(TABLES)}")
        if not isinstance(value, dict):
            raise ConfigError(key, f"must be a table, got {toml_type(value)}")
    _check_settings(file)
    allow = _allow(tables.get("modules", {}))
    features = _feature_sets(
        {**defaults.get("features", {}), **tables.get("features", {})}, settings_n_bits
    )
    models = _models(tables.get("models", defaults["models"]), features, allow)
    category = _category(tables.get("category", defaults["category"]), allow)
    config = Config(path=file, allow=allow, features=features, models=models, category=category)
    try_config(config)
    return config


def _check_settings(file: str) -> None:
    """The file's ``[settings]`` as :class:`Settings` reads them, values checked too."""
    try:
        Settings.from_env({}, config=file)
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError("settings", str(error)) from None


def _allow(table: dict[str, Any]) -> tuple[str, ...]:
    for key in table:
        if key != "allow":
            raise ConfigError(f"modules.{key}", "unknown key; known: allow")
    allow = table.get("allow", [])
    if not isinstance(allow, list):
        raise ConfigError("modules.allow", f"an array of module names, got {toml_type(allow)}")
    for i, module in enumerate(allow):
        if not isinstance(module, str) or not _MODULE.fullmatch(module):
            raise ConfigError(
                f"modules.allow[{i}]", f"a module or package name (mylab.models), got {module!r}"
            )
    return tuple(allow)


def _feature_sets(tables: dict[str, Any], n_bits: int) -> dict[str, FeatureSpec]:
    sets = {}
    for name, table in tables.items():
        _check_name(name, f"features.{name}")
        sets[name] = FeatureSpec.from_mapping(table, field=f"features.{name}", n_bits=n_bits)
    return sets


def _models(
    tables: Any, features: dict[str, FeatureSpec], allow: tuple[str, ...]
) -> dict[str, ModelConfig]:
    if not isinstance(tables, dict) or not tables:
        raise ConfigError("models", "no model: name at least the engagement and quality ones")
    models = {name: _model(name, table, features, allow) for name, table in tables.items()}
    owners: dict[str, str] = {}
    for model in models.values():
        if model.objective in owners:
            raise ConfigError(
                f"models.{model.name}.objective",
                f"objective {model.objective!r} is already models.{owners[model.objective]}'s: "
                "each objective is scored by one model",
            )
        owners[model.objective] = model.name
    for objective in RANKED_OBJECTIVES:
        if objective not in owners:
            raise ConfigError(
                "models",
                f"no model has objective {objective!r}: rank combines the "
                f"{' and '.join(map(repr, RANKED_OBJECTIVES))} scores, so each needs exactly "
                f'one model (objective = "{objective}", or a model named {objective})',
            )
    return models


def _model(
    name: str, table: Any, features: dict[str, FeatureSpec], allow: tuple[str, ...]
) -> ModelConfig:
    field = f"models.{name}"
    _check_name(name, field)
    if name == "category":
        raise ConfigError(field, "'category' is the category model's name: see [category]")
    if not isinstance(table, dict):
        raise ConfigError(field, f"must be a table, got {toml_type(table)}")
    for key in table:
        if key not in _MODEL_KEYS:
            raise ConfigError(f"{field}.{key}", f"unknown key; known: {', '.join(_MODEL_KEYS)}")
    objective = _string(table, "objective", field, name)
    label = table.get("label")
    if label not in LABELS:
        known = "; ".join(f"{key} ({what})" for key, what in LABELS.items())
        which = "missing" if label is None else f"unknown label {label!r}"
        raise ConfigError(f"{field}.label", f"{which}; known: {known}")
    feature_set = _string(table, "features", field, DEFAULT_FEATURES_NAME)
    if feature_set not in features:
        raise ConfigError(
            f"{field}.features",
            f"unknown feature set {feature_set!r}; known: {', '.join(features)} "
            f"(define it as [features.{feature_set}])",
        )
    if "model" not in table:
        raise ConfigError(f"{field}.model", 'missing: {factory = "module:Class", params = {...}}')
    spec, estimator = check_spec(table["model"], f"{field}.model", allow=allow)
    if label == "click":
        require_kind(
            estimator,
            ("classifier",),
            f"{field}.model",
            "label 'click' learns clicked or not: use a classifier (or label 'rating')",
        )
    else:
        require_kind(
            estimator,
            ("classifier", "regressor"),
            f"{field}.model",
            "label 'rating' takes a River regressor or a classifier",
        )
    return ModelConfig(
        name=name, objective=objective, label=label, features=feature_set, model=spec
    )


def _category(table: dict[str, Any], allow: tuple[str, ...]) -> CategoryConfig:
    for key in table:
        if key != "base":
            raise ConfigError(f"category.{key}", "unknown key; known: base")
    if "base" not in table:
        raise ConfigError("category.base", "missing: the binary classifier each node clones")
    spec, estimator = check_spec(table["base"], "category.base", allow=allow)
    require_kind(
        estimator,
        ("classifier",),
        "category.base",
        "each node of the category model learns one child against the others: use a "
        "binary classifier",
    )
    return CategoryConfig(base=spec)


def _string(table: dict[str, Any], key: str, field: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field}.{key}", f"a non-empty string, got {value!r}")
    return value


def _check_name(name: str, field: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            field, f"a name is lower-case letters, digits, '_' or '-' (32 at most): {name!r}"
        )
