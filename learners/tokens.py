"""How an attribute's value becomes feature tokens: the readable definition of every kind.

:class:`learners.features.Features` hashes these tokens; its fast paths call the same functions
once per distinct value and keep the CRCs, so there is one definition of what a token is.

An attribute's raw value is read from its source (:func:`read`); one that is absent, or
unusable for the attribute's kind (:func:`usable`), takes the attribute's ``default``
(:func:`value_of`), and None means no token. Then, per kind (:func:`attribute_tokens`):

- ``categorical``: ``<token>=<value>``, a number as ``str(value)`` (``1``, ``1.0`` and
  ``True`` are three tokens);
- ``bucket``: an ``int`` in ``range`` as its bucket ``<token>=<start>-<end>`` (two digits at
  least; the last bucket ends at the range's end), any other value ``<token>=unk``;
- ``text``: ``<token>=<word>`` for each distinct lower-cased ``\\w+`` word, in order of first
  appearance, then ``<token><n>=<w1 ... wn>`` for each distinct run of n words, n = 2 up to
  ``ngrams``;
- ``path``: ``<token>=<prefix>`` for each level of a ``/``-separated path, top level first
  (empty levels skipped; a path with none is the one token ``<token>=``);
- ``numeric``: no token text: one feature named by the attribute's token alone, valued by the
  number (a finite ``int`` or ``float``, not a ``bool``).

>>> from learners.feature_spec import Attribute
>>> hour = Attribute("context", "hour", "bucket", width=4, range=(0, 24))
>>> attribute_tokens(hour, 9), attribute_tokens(hour, 9.5), attribute_tokens(hour, 24)
(('hour=08-11',), ('hour=unk',), ('hour=unk',))
>>> attribute_tokens(Attribute("query", "query", "text", token="q", ngrams=2), "Red shoes, red")
('q=red', 'q=shoes', 'q2=red shoes', 'q2=shoes red')
>>> attribute_tokens(Attribute("candidate", "category", "path", token="cat"), "sports/shoes")
('cat=sports', 'cat=sports/shoes')
>>> score = Attribute("candidate", "score", "numeric", default=0.5)
>>> value_of(score, "high"), value_of(score, 3), value_of(score, None)
((0.5, True), (3.0, False), (0.5, True))
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from learners.feature_spec import CANDIDATE_FIELDS, Attribute

__all__ = [
    "BIAS",
    "CATMATCH_MAX",
    "CATMATCH_TOKENS",
    "SEP",
    "attribute_tokens",
    "catmatch",
    "missing_name",
    "path_parts",
    "read",
    "usable",
    "value_of",
    "words",
]

#: Joins the two tokens of a cross: ``q=red^cat=sports``.
SEP = "^"
BIAS = "bias"
#: ``catmatch=3`` means 3 or more shared leading levels.
CATMATCH_MAX = 3
CATMATCH_TOKENS = tuple(f"catmatch={m}" for m in range(CATMATCH_MAX + 1))

_WORD = re.compile(r"\w+")
_EMPTY: Mapping[str, Any] = {}


def read(attribute: Attribute, query: Mapping[str, Any], ad: Mapping[str, Any]) -> Any:
    """The raw value of ``attribute`` in a query event and one of its ads (None: absent): a
    query's own field, its ``context`` map's entry, an ad's own field (``ad_id``,
    ``advertiser_id``, ``category``, ``bid``) or its ``attributes`` map's entry."""
    if attribute.source == "query":
        return query.get(attribute.name)
    if attribute.source == "context":
        return (query.get("context") or _EMPTY).get(attribute.name)
    if attribute.name in CANDIDATE_FIELDS:
        return ad.get(attribute.name)
    return (ad.get("attributes") or _EMPTY).get(attribute.name)


def usable(kind: str, value: Any) -> bool:
    """Whether a (present) value can make features of ``kind``; an unusable one is treated as
    absent. ``categorical`` and ``bucket`` take a string or a number, ``text`` and ``path`` a
    string, ``numeric`` a finite number (a ``bool`` is not one)."""
    if kind == "numeric":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind in ("text", "path"):
        return isinstance(value, str)
    return isinstance(value, str | int | float)


def value_of(attribute: Attribute, raw: Any) -> tuple[Any, bool]:
    """The value ``attribute`` takes for the raw value ``raw`` (a number as a ``float`` for a
    numeric attribute; None: no feature), and whether ``raw`` was missing (absent or
    unusable: then the value is the attribute's ``default``)."""
    missing = raw is None or not usable(attribute.kind, raw)
    value = attribute.default if missing else raw
    if value is not None and attribute.kind == "numeric":
        value = float(value)
    return value, missing


def missing_name(attribute: Attribute) -> str:
    """How a missing attribute is counted: ``"<source>.<name>"``."""
    return f"{attribute.source}.{attribute.name}"


def attribute_tokens(attribute: Attribute, value: Any) -> tuple[str, ...]:
    """The tokens of a non-numeric attribute's (usable) value, in order."""
    token, kind = attribute.key, attribute.kind
    if kind == "categorical":
        return (f"{token}={value}",)
    if kind == "bucket":
        low, high = attribute.range
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value < high:
            return (f"{token}=unk",)
        start = value - (value - low) % attribute.width
        return (f"{token}={start:02d}-{min(start + attribute.width, high) - 1:02d}",)
    if kind == "text":
        run = words(value)
        found = [f"{token}={w}" for w in dict.fromkeys(run)]
        for n in range(2, attribute.ngrams + 1):
            grams = (" ".join(run[i : i + n]) for i in range(len(run) - n + 1))
            found += [f"{token}{n}={g}" for g in dict.fromkeys(grams)]
        return tuple(found)
    if kind == "path":
        parts = path_parts(value)
        return tuple(f"{token}={'/'.join(parts[: i + 1])}" for i in range(len(parts))) or (
            f"{token}=",
        )
    raise ValueError(f"a {kind} attribute has no tokens")


@lru_cache(maxsize=1 << 12)
def words(text: str) -> tuple[str, ...]:
    """The lower-cased ``\\w+`` words of ``text``, in order (a memo: vocabularies are small)."""
    return tuple(_WORD.findall(text.lower()))


@lru_cache(maxsize=1 << 16)
def path_parts(path: str) -> tuple[str, ...]:
    """The levels of a ``/``-separated path, empty ones skipped."""
    return tuple(p for p in path.split("/") if p)


def catmatch(query_parts: tuple[str, ...], ad_parts: tuple[str, ...]) -> int:
    """The number of leading levels two paths share, capped at :data:`CATMATCH_MAX`.

    >>> catmatch(("a", "b", "c", "d"), ("a", "b", "x")), catmatch(("a",) * 5, ("a",) * 5)
    (2, 3)
    """
    m = 0
    for a, b in zip(query_parts, ad_parts, strict=False):
        if a != b or m == CATMATCH_MAX:
            break
        m += 1
    return m
