"""``adstream config check|show``: the configuration file (``--config``, else
``ADSTREAM_CONFIG``, else the default), checked whole as a worker checks it at start.

``check`` prints a summary of the models and exits 0; ``show`` prints the configuration with
every default written out, as TOML (a file that loads back to the same) or ``--json``. A
configuration that cannot be used exits 2 with ``config error: <field>: <reason>``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from streams.cli.common import OK
from streams.wire.settings import Settings

__all__ = ["add_parser", "run", "summary"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser(
        "config", help="check or show the configuration file (models, features, settings)"
    )
    config.add_argument("action", choices=("check", "show"))
    config.add_argument("--json", action="store_true", help="show: JSON rather than TOML")
    config.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from streams.config import load_config, resolved
    from streams.config.toml_writer import dumps

    settings = Settings.from_env()
    config = load_config(settings.config or None, settings.n_bits)
    if args.action == "check":
        print(summary(config))
        return OK
    tables = resolved(config, settings)
    if args.json:
        print(json.dumps({"path": config.path, **tables}, indent=2))
    else:
        print(f"# {config.path}, every default written out (secrets never shown)\n")
        print(dumps(tables), end="")
    return OK


def summary(config: Any) -> str:
    """One screen: the file, each model (objective, label, estimator, feature set), the
    category model's base learner, the feature sets and the allowed modules."""
    rows = [
        (
            name,
            f"objective {model.objective}",
            f"label {model.label}",
            f"features {model.features}",
            _estimator(model.model),
        )
        for name, model in config.models.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"{config.path}: OK"]
    for row in rows:
        columns = (cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        lines.append("  " + "  ".join(columns) + "  " + row[4])
    lines.append(f"  category base {_estimator(config.category.base)}")
    for name, spec in config.features.items():
        lines.append(
            f"  features {name}: {len(spec.attributes)} attributes, {len(spec.crosses)} crosses, "
            f"{spec.n_bits} bits"
        )
    lines.append(f"  modules: {', '.join(('river', 'learners', *config.allow))}")
    return "\n".join(lines)


def _estimator(spec: dict[str, Any]) -> str:
    """``module:Class``, a pipeline with its steps' classes."""
    if "steps" in spec:
        steps = " | ".join(step["factory"].rpartition(":")[2] for step in spec["steps"])
        return f"{spec['factory']}({steps})"
    return spec["factory"]
