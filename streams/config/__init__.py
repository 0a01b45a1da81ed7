"""The configuration file (``adstream.toml``): every scored model, the category model's base
learner and the feature sets, chosen without writing Python, checked whole at start.

:func:`load_config` reads and checks a file (the default, ``default.toml`` here, when none
is named), :func:`build_registry` makes the live models it describes, :func:`resolved` writes
it out with every default filled (``adstream config show``).
"""

from streams.config.load import TABLES, load_config
from streams.config.registry import build_registry
from streams.config.resolved import resolved
from streams.config.schema import LABELS, CategoryConfig, Config, ModelConfig

__all__ = [
    "LABELS",
    "TABLES",
    "CategoryConfig",
    "Config",
    "ModelConfig",
    "build_registry",
    "load_config",
    "resolved",
]
