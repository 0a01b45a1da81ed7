"""Writing plain tables as TOML (the standard library only reads it): strings, booleans,
numbers, arrays and tables, nothing else. A table that fits on a line is written inline
(``params = { lr = 0.05 }``), a longer one as a ``[section]``; an array of tables one a line
if each fits (feature attributes), else as ``[[section]]`` entries (a pipeline's steps).

>>> lr = {"factory": "river.linear_model:LogisticRegression", "params": {"l2": 0.1}}
>>> sgd = {"factory": "river.optim:SGD", "params": {"lr": 0.05}}
>>> text = dumps({"modules": {"allow": []}, "models": {"click": {"label": "click",
...     "model": {"factory": "river.compose:Pipeline", "steps": [sgd, lr]}}}})
>>> print(text)
[modules]
allow = []
<BLANKLINE>
[models.click]
label = "click"
<BLANKLINE>
[models.click.model]
factory = "river.compose:Pipeline"
steps = [
  { factory = "river.optim:SGD", params = { lr = 0.05 } },
  { factory = "river.linear_model:LogisticRegression", params = { l2 = 0.1 } },
]
<BLANKLINE>
>>> import tomllib
>>> tomllib.loads(text)["models"]["click"]["model"]["steps"][1]["params"]
{'l2': 0.1}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPED = re.compile(r'["\\\x00-\x1f\x7f]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_LINE = 100  # the longest line an inline table is written on


def dumps(tables: Mapping[str, Any]) -> str:
    """``tables`` as a TOML document (top-level values must be tables)."""
    lines: list[str] = []
    for key, table in tables.items():
        if not isinstance(table, Mapping):
            raise TypeError(f"a top-level value is a table: {key} is {type(table).__name__}")
        _table(lines, [key], table, array=False)
    return "\n".join(lines).rstrip("\n") + "\n"


def _table(lines: list[str], path: list[str], table: Mapping[str, Any], *, array: bool) -> None:
    """The table at ``path``: its inline values under its header, then its sections."""
    inline = [(k, v) for k, v in table.items() if not _is_section(k, v)]
    sections = [(k, v) for k, v in table.items() if _is_section(k, v)]
    if inline or not sections or array:
        header = ".".join(map(_key, path))
        lines.append(f"[[{header}]]" if array else f"[{header}]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in inline)
        lines.append("")
    for key, value in sections:
        if isinstance(value, Mapping):
            _table(lines, [*path, key], value, array=False)
        else:
            for item in value:
                _table(lines, [*path, key], item, array=True)


def _is_section(key: str, value: Any) -> bool:
    """Whether ``value`` is written as a section of its own: a table too long for one line,
    or an array of tables one of which is (the others are written one a line)."""
    if isinstance(value, Mapping):
        return len(f"{_key(key)} = {_value(value)}") > _LINE
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, Mapping) for item in value)
        and any(len(_value(item)) > _LINE - 4 for item in value)
    )


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    return '"' + _ESCAPED.sub(lambda match: _escape(match.group()), text) + '"'


def _escape(char: str) -> str:
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, Mapping) for item in value):
            return "[\n" + "".join(f"  {_value(item)},\n" for item in value) + "]"
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"TOML has no value for {type(value).__name__}: {value!r}")
