"""The TOML writer: whatever plain tables it is given, tomllib reads back the same."""

from __future__ import annotations

import math
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.config.toml_writer import dumps

keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)
scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
documents = st.dictionaries(keys, st.dictionaries(keys, values, max_size=5), max_size=4)


@given(documents)
def test_tomllib_reads_back_what_is_written(document: dict) -> None:
    assert tomllib.loads(dumps(document)) == document


def test_floats_keep_their_value() -> None:
    document = {"t": {"a": 1e-7, "b": 1e300, "c": -0.0, "d": math.inf, "e": 0.1}}
    assert tomllib.loads(dumps(document)) == document


def test_short_tables_are_inline_and_long_ones_sections() -> None:
    spec = {"factory": "river.optim:SGD", "params": {"lr": 0.05}}
    text = dumps({"m": {"short": spec, "long": {"factory": "x" * 90, "params": {}}}})
    assert 'short = { factory = "river.optim:SGD", params = { lr = 0.05 } }' in text
    assert "[m.long]" in text


def test_none_and_other_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="TOML has no value for NoneType"):
        dumps({"t": {"seed": None}})
    with pytest.raises(TypeError, match="a top-level value is a table"):
        dumps({"n": 1})
