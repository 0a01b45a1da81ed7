"""Reading the configuration file (``adstream.toml``): a TOML file to a dict, or a
:class:`~learners.errors.ConfigError` that names the file (and the line of a syntax error).

Both the settings (its ``[settings]`` table) and :mod:`streams.config` (its models and
features) read it with :func:`read_toml`. :data:`DEFAULT_CONFIG` is the demo's configuration,
shipped with the package, used when no file is named.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "adstream.toml"
>>> _ = path.write_text('[settings]\\npartitions = 2\\n')
>>> read_toml(path)
{'settings': {'partitions': 2}}
>>> _ = path.write_text('[settings]\\npartitions = \\n')
>>> read_toml(path)
Traceback (most recent call last):
...
learners.errors.ConfigError: .../adstream.toml:2: not TOML: Invalid value (at line 2, column 14)
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from learners.errors import ConfigError

__all__ = ["DEFAULT_CONFIG", "read_settings", "read_toml", "toml_type"]

#: The configuration used when none is named: ``streams/config/default.toml`` (package data).
#: A path, not an import: ``wire`` is the bottom layer and imports no other sub-package.
DEFAULT_CONFIG = str(Path(__file__).resolve().parent.parent / "config" / "default.toml")

_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The tables of the TOML file at ``path``.

    Raises :class:`~learners.errors.ConfigError` whose field is the file (``file:line`` for a
    syntax error) when the file cannot be read or is not TOML.
    """
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(str(path), "no such configuration file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), f"cannot read it: {error}") from None
    except tomllib.TOMLDecodeError as error:
        line = _LINE.search(str(error))
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ConfigError(where, f"not TOML: {error}") from None


def read_settings(path: str | os.PathLike[str], types: Mapping[str, type]) -> dict[str, Any]:
    """The ``[settings]`` table of the file at ``path`` (empty if it has none), each entry
    checked against ``types`` (setting name -> ``str``, ``int`` or ``float``; an integer is
    fine where a float is expected).

    >>> read_settings(DEFAULT_CONFIG, {"partitions": int})
    {}
    """
    table = read_toml(path).get("settings", {})
    if not isinstance(table, dict):
        raise ConfigError("settings", f"a table of settings, got {toml_type(table)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        expected = types.get(key)
        if expected is None:
            reason = (
                "the configuration file is named by ADSTREAM_CONFIG or --config, not in itself"
                if key == "config"
                else f"unknown setting; known: {', '.join(sorted(types))}"
            )
            raise ConfigError(f"settings.{key}", reason)
        values[key] = _typed(f"settings.{key}", value, expected)
    return values


def _typed(field: str, value: Any, expected: type) -> Any:
    if expected is float and type(value) is int:
        return float(value)
    if type(value) is not expected:
        raise ConfigError(
            field, f"expected {_TOML_TYPES[expected]}, got {toml_type(value)} {value!r}"
        )
    return value


_TOML_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def toml_type(value: Any) -> str:
    """How TOML calls the type of a parsed ``value`` (for messages).

    >>> toml_type(1.5), toml_type([1]), toml_type({})
    ('a number', 'an array', 'a table')
    """
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return _TOML_TYPES.get(type(value), type(value).__name__)
