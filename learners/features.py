"""Hashed query x ad features for the click model (the serving hot path).

Every feature is a string *token* hashed with CRC-32 into ``n_bits`` bits; the feature dict maps
hashed index -> 1.0. Colliding tokens simply share an index (set semantics), so the output is a
deterministic function of the event, identical in every process (Python's ``hash`` is salted per
process and is never used).

Tokens for a query and one candidate ad:

- ``bias``;
- query side: ``q=<word>`` for each distinct lower-cased word of the query text, ``device=..``,
  ``region=..``, ``hour=08-11`` (4-hour buckets), ``segment=..``; other context keys are ignored
  and a missing context key yields no token (and no crosses);
- ad side: ``ad=<ad_id>``, ``adv=<advertiser_id>`` and one ``cat=<prefix>`` per level of the
  category path (``cat=electronics``, ``cat=electronics/phones``, ...);
- crosses ``<left>^<right>``: each ``q=`` word with every level of the ad's category,
  device, hour bucket and segment with the top-level category, segment with ``ad=``;
- only when the query's predicted category path is given (``category=``): ``catmatch=<m>``, the
  number of leading levels it shares with the ad's category (0 to 3, 3 meaning 3 or more), and
  ``catmatch=<m>^cat=<top>``, crossed with the ad's top-level category.

The query-category model has its own input, `query_text_features`: the hashed ``bias``,
``q=<word>`` for each distinct lower-cased word and ``q2=<word> <next word>`` for each distinct
pair of consecutive words (`query_text_tokens`).

The work is split so that the query side is done once per query (`query_context`) and each
candidate costs a dozen CRC updates (`candidate_features`): CRC-32 is incremental, so a cross is
hashed by resuming the left token's precomputed CRC over the right token's bytes, without building
the string. `feature_tokens` is the slow, readable definition that the fast path must match.
Serving builds the same features for a whole batch of queries at once with
:class:`learners.candidate_rows.CandidateRows`.

Examples
--------
>>> from learners.features import feature_tokens, features_for, stable_hash
>>> query = {
...     "event_id": "e1", "ts": 0, "user_id": "u1", "query": "Red running shoes",
...     "context": {"device": "mobile", "region": "fr", "hour": 9, "segment": "new"},
...     "candidates": [],
... }
>>> ad = {"ad_id": "a7", "advertiser_id": "acme", "category": "sports/shoes", "bid": 0.4}
>>> tokens = feature_tokens(query, ad)
>>> tokens[:8]
['bias', 'q=red', 'q=running', 'q=shoes', 'device=mobile', 'region=fr', 'hour=08-11', 'segment=new']
>>> tokens[-4:]
['device=mobile^cat=sports', 'hour=08-11^cat=sports', 'segment=new^cat=sports', 'segment=new^ad=a7']
>>> x = features_for(query, ad, n_bits=20)
>>> x == {stable_hash(t, 20): 1.0 for t in tokens}
True
>>> len(x), max(x) < 2**20
(22, True)

"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

__all__ = [
    "N_BITS_DEFAULT",
    "QueryContext",
    "candidate_features",
    "feature_tokens",
    "features_for",
    "query_context",
    "query_text_features",
    "query_text_tokens",
    "query_tokens",
    "stable_hash",
]

N_BITS_DEFAULT = 20

_crc32 = zlib.crc32
_WORD = re.compile(r"\w+")
_SEP = "^"
_HOUR_BUCKET_H = 4
_HOUR_TOKENS = tuple(
    f"hour={h - h % _HOUR_BUCKET_H:02d}-{h - h % _HOUR_BUCKET_H + _HOUR_BUCKET_H - 1:02d}"
    for h in range(24)
)
_HOUR_UNKNOWN = "hour=unk"
_BIAS = "bias"
_BIAS_CRC = _crc32(_BIAS.encode())
_CATMATCH_MAX = 3  # "catmatch=3" means 3 or more shared leading levels
_CATMATCH_TOKENS = tuple(f"catmatch={m}" for m in range(_CATMATCH_MAX + 1))
_CATMATCH_CRCS = tuple(_crc32(t.encode()) for t in _CATMATCH_TOKENS)
_CATMATCH_SEEDS = tuple(_crc32(f"{t}{_SEP}".encode()) for t in _CATMATCH_TOKENS)


def _mask(n_bits: int) -> int:
    if isinstance(n_bits, bool) or not isinstance(n_bits, int) or not 1 <= n_bits <= 32:
        raise ValueError(f"n_bits must be an int in [1, 32], got {n_bits!r}")
    return (1 << n_bits) - 1


def stable_hash(token: str, n_bits: int = N_BITS_DEFAULT) -> int:
    """Hash a token to ``[0, 2**n_bits)``: CRC-32 of its UTF-8 bytes, masked to ``n_bits``.

    Parameters
    ----------
    token
        Feature token, for example ``"q=shoes"``.
    n_bits
        Size of the hashed feature space, in bits (1 to 32).

    Examples
    --------
    >>> stable_hash("q=shoes", 20), stable_hash("q=shoes", 4)
    (681496, 8)

    """
    return _crc32(token.encode()) & _mask(n_bits)


def _query_parts(query: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """Word tokens and (device, region, hour, segment) tokens, None where the key is absent."""
    words = tuple(dict.fromkeys(f"q={w}" for w in _words(query["query"])))
    context = query.get("context") or {}
    return words, _context_tokens(
        context.get("device"), context.get("region"), context.get("hour"), context.get("segment")
    )


def _context_tokens(device: Any, region: Any, hour: Any, segment: Any) -> tuple[str | None, ...]:
    """(device, region, hour bucket, segment) tokens, None for an absent value."""
    if hour is None:
        hour_token = None
    elif isinstance(hour, int) and 0 <= hour < 24:
        hour_token = _HOUR_TOKENS[hour]
    else:
        hour_token = _HOUR_UNKNOWN
    return (
        None if device is None else f"device={device}",
        None if region is None else f"region={region}",
        hour_token,
        None if segment is None else f"segment={segment}",
    )


def query_tokens(query: Mapping[str, Any]) -> tuple[str, ...]:
    """Query-side tokens: distinct words, then device, region, hour bucket and segment.

    Examples
    --------
    >>> query_tokens({"query": "Cheap cheap flights!", "context": {"hour": 23, "device": "web"}})
    ('q=cheap', 'q=flights', 'device=web', 'hour=20-23')

    """
    words, context = _query_parts(query)
    return words + tuple(t for t in context if t is not None)


def query_text_tokens(query: Mapping[str, Any]) -> tuple[str, ...]:
    """Tokens of the query-category model: bias, distinct words, distinct word bigrams.

    Examples
    --------
    >>> query_text_tokens({"query": "Red shoes, red SHOES"})
    ('bias', 'q=red', 'q=shoes', 'q2=red shoes', 'q2=shoes red')

    """
    words = _words(query["query"])
    unigrams = dict.fromkeys(f"q={w}" for w in words)
    bigrams = dict.fromkeys(f"q2={a} {b}" for a, b in pairwise(words))
    return (_BIAS, *unigrams, *bigrams)


def query_text_features(query: Mapping[str, Any], n_bits: int = N_BITS_DEFAULT) -> dict[int, float]:
    """Hashed `query_text_tokens` of ``query["query"]`` (index -> 1.0), the category model's input.

    Deterministic across processes, like every feature here (CRC-32, not ``hash``).

    Examples
    --------
    >>> x = query_text_features({"query": "Red shoes"}, n_bits=20)
    >>> x == {stable_hash(t, 20): 1.0 for t in ("bias", "q=red", "q=shoes", "q2=red shoes")}
    True

    """
    mask = _mask(n_bits)
    words = _words(query["query"])
    x = {_BIAS_CRC & mask: 1.0}
    for word in dict.fromkeys(words):
        x[_word_crcs(word)[0] & mask] = 1.0
    for pair in dict.fromkeys(pairwise(words)):
        x[_bigram_crc(*pair) & mask] = 1.0
    return x


@lru_cache(maxsize=1 << 12)
def _words(text: str) -> tuple[str, ...]:
    # Memos of pure functions (serving asks twice per query, and vocabularies are small):
    # they never change a result.
    return tuple(_WORD.findall(text.lower()))


@lru_cache(maxsize=1 << 16)
def _word_crcs(word: str) -> tuple[int, int]:
    """CRCs of ``q=<word>`` and of ``q=<word>^``, the seed of its crosses."""
    token = f"q={word}"
    return _crc32(token.encode()), _crc32(f"{token}{_SEP}".encode())


@lru_cache(maxsize=1 << 16)
def _bigram_crc(first: str, second: str) -> int:
    return _crc32(f"q2={first} {second}".encode())


@lru_cache(maxsize=1 << 12, typed=True)  # typed: hour 9 and 9.0 give different tokens
def _context_crcs(
    device: Any, region: Any, hour: Any, segment: Any
) -> tuple[tuple[int, ...], tuple[int, ...], int | None]:
    """CRCs of the context tokens (present keys only), of the seeds of their crosses with the
    top category level (device, hour bucket, segment), and of the segment's seed for its cross
    with the ad id (None without a segment)."""
    tokens = _context_tokens(device, region, hour, segment)
    device_t, _, hour_t, segment_t = tokens
    return (
        tuple(_crc32(t.encode()) for t in tokens if t is not None),
        tuple(
            _crc32(f"{t}{_SEP}".encode()) for t in (device_t, hour_t, segment_t) if t is not None
        ),
        None if segment_t is None else _crc32(f"{segment_t}{_SEP}".encode()),
    )


def _category_parts(category: str) -> tuple[str, ...]:
    return tuple(p for p in category.split("/") if p)


def _catmatch(query_parts: tuple[str, ...], ad_parts: tuple[str, ...]) -> int:
    """Number of leading levels two category paths share, capped at ``_CATMATCH_MAX``."""
    m = 0
    for a, b in zip(query_parts, ad_parts, strict=False):
        if a != b or m == _CATMATCH_MAX:
            break
        m += 1
    return m


def _category_tokens(category: str) -> tuple[str, ...]:
    """``cat=`` tokens for each level of a category path, top level first (never empty)."""
    parts = [p for p in category.split("/") if p]
    return tuple(f"cat={'/'.join(parts[: i + 1])}" for i in range(len(parts))) or ("cat=",)


@lru_cache(maxsize=1 << 16)
def _category_levels(category: str) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
    # A memo of a pure function (category vocabularies are small): it never changes a result.
    levels = tuple(t.encode() for t in _category_tokens(category))
    return levels, tuple(_crc32(b) for b in levels)


_category_parts_cached = lru_cache(maxsize=1 << 16)(_category_parts)


def feature_tokens(
    query: Mapping[str, Any], ad: Mapping[str, Any], category: str | None = None
) -> list[str]:
    """All tokens for a (query, ad) pair, readable; the definition `features_for` implements.

    ``category`` is the query's predicted category path; without it there is no ``catmatch``.
    """
    words, (device, _, hour, segment) = _query_parts(query)
    ad_token = f"ad={ad['ad_id']}"
    levels = _category_tokens(ad["category"])
    top = levels[0]
    tokens = [_BIAS, *query_tokens(query), ad_token, f"adv={ad['advertiser_id']}", *levels]
    tokens += [f"{w}{_SEP}{level}" for w in words for level in levels]
    tokens += [f"{t}{_SEP}{top}" for t in (device, hour, segment) if t is not None]
    if segment is not None:
        tokens.append(f"{segment}{_SEP}{ad_token}")
    if category is not None:
        match = _CATMATCH_TOKENS[
            _catmatch(_category_parts(category), _category_parts(ad["category"]))
        ]
        tokens += [match, f"{match}{_SEP}{top}"]
    return tokens


@dataclass(frozen=True, slots=True, eq=False)
class QueryContext:
    """Query-side work done once per query, shared by all its candidates.

    Build it with `query_context`. ``base`` must not be mutated (candidates copy it).

    Attributes
    ----------
    n_bits
        Size of the hashed feature space, in bits.
    mask
        ``2**n_bits - 1``.
    base
        Hashed bias and query-side tokens, each mapped to 1.0.
    top_seeds
        CRCs of ``"<left>^"`` for device, hour bucket and segment, crossed with the top level.
    word_seeds
        CRCs of ``"q=<word>^"``, crossed with every level of the category.
    segment_seed
        CRC of ``"segment=<s>^"``, crossed with the ad id; None without a segment.
    category
        Levels of the query's predicted category path, for the ``catmatch`` tokens; None
        without a predicted category (no ``catmatch`` token).

    """

    n_bits: int
    mask: int
    base: dict[int, float]
    top_seeds: tuple[int, ...]
    word_seeds: tuple[int, ...]
    segment_seed: int | None
    category: tuple[str, ...] | None = None


def query_context(
    query: Mapping[str, Any], n_bits: int = N_BITS_DEFAULT, category: str | None = None
) -> QueryContext:
    """Precompute the query-side hashed indices and cross seeds for `candidate_features`.

    ``category`` is the query's predicted category path (e.g. the best path of the category
    model); when given, each candidate gets the ``catmatch`` tokens.
    """
    mask = _mask(n_bits)
    words = [_word_crcs(word) for word in dict.fromkeys(_words(query["query"]))]
    context = query.get("context") or {}
    context_crcs, top_seeds, segment_seed = _context_crcs(
        context.get("device"), context.get("region"), context.get("hour"), context.get("segment")
    )
    base = {_BIAS_CRC & mask: 1.0}
    for token, _ in words:
        base[token & mask] = 1.0
    for token in context_crcs:
        base[token & mask] = 1.0
    parts = None if category is None else _category_parts_cached(category)
    seeds = tuple([seed for _, seed in words])
    return QueryContext(n_bits, mask, base, top_seeds, seeds, segment_seed, parts)


def candidate_features(ctx: QueryContext, ad: Mapping[str, Any]) -> dict[int, float]:
    """Hashed features of one candidate ad for a query prepared by `query_context`.

    Returns a fresh dict (hashed index -> 1.0) the caller may keep or mutate.
    """
    crc = _crc32
    mask = ctx.mask
    x = ctx.base.copy()
    ad_bytes = b"ad=" + ad["ad_id"].encode()
    x[crc(ad_bytes) & mask] = 1.0
    x[crc(b"adv=" + ad["advertiser_id"].encode()) & mask] = 1.0
    levels, level_crcs = _category_levels(ad["category"])
    for h in level_crcs:
        x[h & mask] = 1.0
    top = levels[0]
    for s in ctx.top_seeds:
        x[crc(top, s) & mask] = 1.0
    for s in ctx.word_seeds:
        for level in levels:
            x[crc(level, s) & mask] = 1.0
    if ctx.segment_seed is not None:
        x[crc(ad_bytes, ctx.segment_seed) & mask] = 1.0
    if ctx.category is not None:
        m = _catmatch(ctx.category, _category_parts_cached(ad["category"]))
        x[_CATMATCH_CRCS[m] & mask] = 1.0
        x[crc(top, _CATMATCH_SEEDS[m]) & mask] = 1.0
    return x


def features_for(
    query: Mapping[str, Any],
    ad: Mapping[str, Any],
    n_bits: int = N_BITS_DEFAULT,
    category: str | None = None,
) -> dict[int, float]:
    """Hashed features of one (query, ad) pair; use `query_context` when scoring many ads."""
    return candidate_features(query_context(query, n_bits, category), ad)
