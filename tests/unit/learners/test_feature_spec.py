"""A feature set's configuration table: read back as written, and every misconfiguration
refused with its field and reason."""

from __future__ import annotations

from typing import Any

import pytest

from learners.errors import ConfigError
from learners.feature_spec import DEFAULT_FEATURES, FeatureSpec

BID = {"source": "candidate", "name": "bid", "kind": "numeric"}
CATEGORY = {"source": "candidate", "name": "category", "kind": "path", "token": "cat"}
DEVICE = {"source": "context", "name": "device", "kind": "categorical"}


def _spec(table: dict[str, Any]) -> FeatureSpec:
    return FeatureSpec.from_mapping(table, field="features.f", n_bits=20)


@pytest.mark.parametrize("match", [True, False, "numeric"])
def test_a_table_reads_back_as_written(match: bool | str) -> None:
    spec = _spec({"attributes": [DEVICE, CATEGORY, BID], "category_match": match})
    assert _spec(spec.to_mapping()) == spec
    assert spec.category_match == match and spec.crosses == ()


def test_an_empty_table_is_the_built_in_set() -> None:
    assert _spec({}) == DEFAULT_FEATURES
    assert _spec(DEFAULT_FEATURES.to_mapping()) == DEFAULT_FEATURES


@pytest.mark.parametrize(
    ("table", "field", "reason"),
    [
        ({"colour": 1}, "features.f.colour", "unknown key"),
        ({"n_bits": 40}, "features.f.n_bits", "8..28"),
        ({"bias": "yes"}, "features.f.bias", "true or false"),
        ({"category_match": "yes"}, "features.f.category_match", '"numeric"'),
        ({"attributes": [DEVICE]}, "features.f.category_match", "category as a path"),
        ({"attributes": {"a": 1}}, "features.f.attributes", "must be a list"),
        (
            {"attributes": [{**DEVICE, "kind": "colour"}], "category_match": False},
            "features.f.attributes[0].kind",
            "unknown kind 'colour'",
        ),
        (
            {"attributes": [{**DEVICE, "source": "user"}], "category_match": False},
            "features.f.attributes[0].source",
            "unknown source",
        ),
        (
            {"attributes": [{**DEVICE, "size": 3}], "category_match": False},
            "features.f.attributes[0].size",
            "unknown key",
        ),
        (
            {"attributes": [DEVICE, DEVICE], "category_match": False},
            "features.f.attributes[1].token",
            "used twice",
        ),
        (
            {"attributes": [{**BID, "default": "high"}], "category_match": False},
            "features.f.attributes[0].default",
            "a number",
        ),
        (
            {"attributes": [{**DEVICE, "kind": "bucket", "width": 4}], "category_match": False},
            "features.f.attributes[0].range",
            "[low, high)",
        ),
        (
            {"attributes": [{**DEVICE, "width": 4}], "category_match": False},
            "features.f.attributes[0].width",
            "only a bucket",
        ),
        (
            {"attributes": [{**DEVICE, "kind": "text", "ngrams": 9}], "category_match": False},
            "features.f.attributes[0].ngrams",
            "1..3",
        ),
        (
            {"attributes": [DEVICE, CATEGORY], "crosses": [{"left": "device", "right": "brand"}]},
            "features.f.crosses[0].right",
            "no attribute with token 'brand'",
        ),
        (
            {"attributes": [DEVICE, CATEGORY], "crosses": [{"left": "cat", "right": "device"}]},
            "features.f.crosses[0].left",
            "query or context",
        ),
        (
            {
                "attributes": [DEVICE, CATEGORY, BID],
                "crosses": [{"left": "device", "right": "bid"}],
            },
            "features.f.crosses[0].right",
            "numeric attribute is not crossed",
        ),
        (
            {
                "attributes": [DEVICE, CATEGORY, {**DEVICE, "source": "candidate", "name": "b"}],
                "crosses": [{"left": "device", "right": "b", "levels": "top"}],
            },
            "features.f.crosses[0].levels",
            "crosses a path",
        ),
    ],
)
def test_a_misconfigured_table_is_refused_with_its_field_and_reason(
    table: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        _spec(table)
    assert refused.value.field == field
    assert reason in refused.value.reason
