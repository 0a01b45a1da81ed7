"""What a model's features are made of: a feature set as data, validated, written back.

A :class:`FeatureSpec` names the attributes read from a query event and from each candidate
ad, how each becomes features, and which query-side tokens are crossed with which ad-side
ones. :class:`learners.features.Features` turns a spec into features, the same way for the
join's examples and for serving's vectorized rows. `DEFAULT_FEATURES` is the built-in set.

Attributes are read from three sources: ``query`` (the query event's own fields: ``query``,
the text), ``context`` (the query's context map) and ``candidate`` (an ad's fields
``ad_id``, ``advertiser_id``, ``category``, ``bid``, then its ``attributes`` map). Kinds:

- ``categorical``: one hashed token ``<token>=<value>``;
- ``numeric``: one feature keyed by the hashed ``<token>``, valued by the number (scaling,
  if any, is the model's: a River pipeline with a scaler);
- ``bucket``: an integer in ``range`` as the token of its bucket of ``width``
  (``hour=08-11``); anything else ``<token>=unk``;
- ``text``: a token ``<token>=<word>`` per distinct lower-cased word, and for ``ngrams``
  above 1 one ``<token><n>=<w1 ... wn>`` per distinct run of n words;
- ``path``: a ``/``-separated path as one token per level (``cat=a``, ``cat=a/b``).

A cross ``left x right`` hashes every token of a query-side attribute with every token of a
candidate-side one (``levels = "top"``: only the first level of a path). ``category_match``
adds ``catmatch=<m>``, the number of leading levels (up to 3) the query's predicted category
shares with the ad's ``path`` attribute named ``category``, and its cross with the ad's top
level (``category_match = "numeric"``: one feature ``catmatch`` valued ``m`` instead). An
attribute missing from an event takes its ``default`` (none: no feature). A table that names
its attributes and no crosses has none.

>>> spec = FeatureSpec.from_mapping(
...     {"attributes": [{"source": "candidate", "name": "bid", "kind": "numeric"}],
...      "category_match": False},
...     field="features.bids", n_bits=16,
... )
>>> spec.attributes[0].token, spec.n_bits
('bid', 16)
>>> FeatureSpec.from_mapping(spec.to_mapping(), field="f", n_bits=20) == spec
True
>>> FeatureSpec.from_mapping({"crosses": [{"left": "q", "right": "brand"}]}, field="f", n_bits=20)
Traceback (most recent call last):
...
learners.errors.ConfigError: f.crosses[0].right: no attribute with token 'brand'; ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from learners.errors import ConfigError

__all__ = [
    "CANDIDATE_FIELDS",
    "DEFAULT_FEATURES",
    "KINDS",
    "SOURCES",
    "Attribute",
    "Cross",
    "FeatureSpec",
]

SOURCES = ("query", "context", "candidate")
KINDS = ("categorical", "numeric", "bucket", "text", "path")
#: A candidate's own fields (then its ``attributes`` map); a query's own text field.
CANDIDATE_FIELDS = ("ad_id", "advertiser_id", "category", "bid")
QUERY_FIELDS = ("query",)
LEVELS = ("all", "top")
#: ``category_match = "numeric"``: the category match as one number, not tokens
NUMERIC_MATCH = "numeric"
MAX_NGRAMS = 3


@dataclasses.dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of an event and how it becomes features (see the module's doc)."""

    source: str
    name: str
    kind: str
    #: the token's prefix (``ad`` for ``ad=a7``); empty: the attribute's name
    token: str = ""
    #: the value of a missing attribute (None: no feature)
    default: str | float | None = None
    #: ``bucket``: the bucket width and the range ``[low, high)`` of bucketed integers
    width: int = 0
    range: tuple[int, int] = (0, 0)
    #: ``text``: the longest word run hashed as one token
    ngrams: int = 1

    def __post_init__(self) -> None:
        if not self.token:
            object.__setattr__(self, "token", self.name)

    @property
    def key(self) -> str:
        """The token prefix the attribute's features are named by."""
        return self.token

    @property
    def query_side(self) -> bool:
        return self.source != "candidate"


@dataclasses.dataclass(frozen=True, slots=True)
class Cross:
    """Every token of the query-side attribute ``left`` with every token of the candidate's
    ``right`` (``levels="top"``: a path's first level only), named by their tokens."""

    left: str
    right: str
    levels: str = "all"


_DEFAULT_ATTRIBUTES = (
    Attribute("query", "query", "text", token="q"),
    Attribute("context", "device", "categorical"),
    Attribute("context", "region", "categorical"),
    Attribute("context", "hour", "bucket", width=4, range=(0, 24)),
    Attribute("context", "segment", "categorical"),
    Attribute("candidate", "ad_id", "categorical", token="ad"),
    Attribute("candidate", "advertiser_id", "categorical", token="adv"),
    Attribute("candidate", "category", "path", token="cat"),
)
_DEFAULT_CROSSES = (
    Cross("q", "cat"),
    Cross("device", "cat", "top"),
    Cross("hour", "cat", "top"),
    Cross("segment", "cat", "top"),
    Cross("segment", "ad"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class FeatureSpec:
    """A feature set: hashed to ``n_bits`` bits, with a ``bias`` feature, its
    ``attributes`` and ``crosses``, and the category match: ``category_match`` true, its
    tokens; ``"numeric"``, one feature valued by the number of levels shared (for trees, which
    split on numbers, not on the presence of a token). Hashable: one compiled
    :class:`learners.features.Features` per distinct spec."""

    n_bits: int = 20
    bias: bool = True
    attributes: tuple[Attribute, ...] = _DEFAULT_ATTRIBUTES
    crosses: tuple[Cross, ...] = _DEFAULT_CROSSES
    category_match: bool | str = True

    def __hash__(self) -> int:
        # Equal specs hash equal; hashing every attribute would cost microseconds a lookup, and
        # a spec keys the dicts of the hot path (one Features, one batch of rows per spec).
        shape = (self.n_bits, self.bias, self.category_match, len(self.attributes))
        return hash((*shape, len(self.crosses)))

    def attribute(self, token: str) -> Attribute | None:
        """The attribute whose features are named ``token`` (None: no such attribute)."""
        return next((a for a in self.attributes if a.key == token), None)

    @property
    def category_attribute(self) -> Attribute | None:
        """The ad's category path that ``category_match`` compares with the query's predicted
        category: the candidate's ``path`` attribute named ``category`` (None: none)."""
        return next(
            (
                a
                for a in self.attributes
                if a.source == "candidate" and a.name == "category" and a.kind == "path"
            ),
            None,
        )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], *, field: str, n_bits: int) -> FeatureSpec:
        """A validated spec from a configuration table (absent keys take the built-in set's
        values; ``n_bits``: the width when the table names none). Raises
        :class:`~learners.errors.ConfigError` naming the field below ``field``."""
        _known_keys(mapping, field, ("n_bits", "bias", "attributes", "crosses", "category_match"))
        width = mapping.get("n_bits", n_bits)
        if type(width) is not int or not 8 <= width <= 28:
            raise ConfigError(f"{field}.n_bits", f"must be an integer in 8..28, got {width!r}")
        bias = _boolean(mapping, "bias", field, True)
        category_match = mapping.get("category_match", True)
        if type(category_match) is not bool and category_match != NUMERIC_MATCH:
            raise ConfigError(
                f"{field}.category_match",
                f'must be true, false or "{NUMERIC_MATCH}", got {category_match!r}',
            )
        attributes = tuple(
            _attribute(item, f"{field}.attributes[{i}]")
            for i, item in enumerate(_list(mapping, "attributes", field, _DEFAULT_ATTRIBUTES))
        )
        tokens = [a.key for a in attributes]
        for i, token in enumerate(tokens):
            if token in tokens[:i]:
                raise ConfigError(
                    f"{field}.attributes[{i}].token", f"token {token!r} is used twice"
                )
        spec = cls(width, bias, attributes, (), category_match)
        crosses = tuple(
            _cross(item, f"{field}.crosses[{i}]", spec)
            for i, item in enumerate(
                _list(
                    mapping, "crosses", field, () if "attributes" in mapping else _DEFAULT_CROSSES
                )
            )
        )
        if category_match and spec.category_attribute is None:
            raise ConfigError(
                f"{field}.category_match",
                "needs the candidate's category as a path attribute "
                '({source = "candidate", name = "category", kind = "path"})',
            )
        return dataclasses.replace(spec, crosses=crosses)

    def to_mapping(self) -> dict[str, Any]:
        """The spec as a configuration table, every value written out (no None: TOML has
        none)."""
        return {
            "n_bits": self.n_bits,
            "bias": self.bias,
            "category_match": self.category_match,
            "attributes": [_attribute_mapping(a) for a in self.attributes],
            "crosses": [dataclasses.asdict(c) for c in self.crosses],
        }


DEFAULT_FEATURES = FeatureSpec()


def _attribute_mapping(attribute: Attribute) -> dict[str, Any]:
    table: dict[str, Any] = {
        "source": attribute.source,
        "name": attribute.name,
        "kind": attribute.kind,
        "token": attribute.key,
    }
    if attribute.default is not None:
        table["default"] = attribute.default
    if attribute.kind == "bucket":
        table.update(width=attribute.width, range=list(attribute.range))
    if attribute.kind == "text":
        table["ngrams"] = attribute.ngrams
    return table


def _known_keys(mapping: Any, field: str, known: tuple[str, ...]) -> None:
    if not isinstance(mapping, Mapping):
        raise ConfigError(field, f"must be a table, got {type(mapping).__name__}")
    for key in mapping:
        if key not in known:
            raise ConfigError(f"{field}.{key}", f"unknown key; known: {', '.join(known)}")


def _boolean(mapping: Mapping[str, Any], key: str, field: str, default: bool) -> bool:
    value = mapping.get(key, default)
    if type(value) is not bool:
        raise ConfigError(f"{field}.{key}", f"must be true or false, got {value!r}")
    return value


def _list(mapping: Mapping[str, Any], key: str, field: str, default: tuple) -> list[Any]:
    if key not in mapping:
        return [
            _attribute_mapping(item) if isinstance(item, Attribute) else dataclasses.asdict(item)
            for item in default
        ]
    value = mapping[key]
    if not isinstance(value, list):
        raise ConfigError(f"{field}.{key}", f"must be a list, got {type(value).__name__}")
    return value


def _choice(table: Mapping[str, Any], key: str, field: str, known: tuple[str, ...]) -> str:
    value = table.get(key)
    if value not in known:
        raise ConfigError(f"{field}.{key}", f"unknown {key} {value!r}; known: {', '.join(known)}")
    return value


def _attribute(table: Any, field: str) -> Attribute:
    keys = ("source", "name", "kind", "token", "default", "width", "range", "ngrams")
    _known_keys(table, field, keys)
    source = _choice(table, "source", field, SOURCES)
    kind = _choice(table, "kind", field, KINDS)
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{field}.name", f"must be a non-empty string, got {name!r}")
    if source == "query" and name not in QUERY_FIELDS:
        raise ConfigError(
            f"{field}.name", f"a query's own field is one of {', '.join(QUERY_FIELDS)}"
        )
    token = table.get("token", "")
    if not isinstance(token, str) or any(c in token for c in "=^ "):
        raise ConfigError(
            f"{field}.token", f"must be a string without '=', '^' or spaces: {token!r}"
        )
    default = table.get("default")
    if default is not None:
        numeric = kind == "numeric"
        if numeric != (type(default) in (int, float)) or (not numeric and type(default) is not str):
            wanted = "a number" if numeric else "a string"
            raise ConfigError(f"{field}.default", f"a {kind} attribute's default is {wanted}")
    width, low_high, ngrams = 0, (0, 0), 1
    if kind == "bucket":
        width = table.get("width")
        if type(width) is not int or width < 1:
            raise ConfigError(f"{field}.width", f"a bucket needs an integer width >= 1: {width!r}")
        bounds = table.get("range")
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(type(b) is int for b in bounds)
            or bounds[0] >= bounds[1]
        ):
            raise ConfigError(f"{field}.range", f"a bucket needs [low, high) integers: {bounds!r}")
        low_high = (bounds[0], bounds[1])
    elif "width" in table or "range" in table:
        raise ConfigError(f"{field}.width", "only a bucket attribute has a width and a range")
    if kind == "text":
        ngrams = table.get("ngrams", 1)
        if type(ngrams) is not int or not 1 <= ngrams <= MAX_NGRAMS:
            raise ConfigError(f"{field}.ngrams", f"must be an integer in 1..{MAX_NGRAMS}")
    elif "ngrams" in table:
        raise ConfigError(f"{field}.ngrams", "only a text attribute has ngrams")
    return Attribute(source, name, kind, token, default, width, low_high, ngrams)


def _cross(table: Any, field: str, spec: FeatureSpec) -> Cross:
    _known_keys(table, field, ("left", "right", "levels"))
    known = "known: " + ", ".join(a.key for a in spec.attributes)
    ends = {}
    for end, query_side in (("left", True), ("right", False)):
        token = table.get(end)
        attribute = spec.attribute(token) if isinstance(token, str) else None
        if attribute is None:
            raise ConfigError(
                f"{field}.{end}", f"no attribute with token {token!r}; known: {known}"
            )
        if attribute.query_side != query_side:
            side = "a query or context" if query_side else "a candidate"
            raise ConfigError(f"{field}.{end}", f"the {end} of a cross is {side} attribute")
        if attribute.kind == "numeric":
            raise ConfigError(f"{field}.{end}", "a numeric attribute is not crossed")
        ends[end] = attribute
    levels = table.get("levels", "all")
    if levels not in LEVELS:
        raise ConfigError(f"{field}.levels", f"unknown levels {levels!r}; known: all, top")
    if levels == "top" and ends["right"].kind != "path":
        raise ConfigError(f"{field}.levels", "levels = 'top' crosses a path attribute")
    return Cross(table["left"], table["right"], levels)
