"""Hashed features of a query and its candidate ads, as a :class:`FeatureSpec` describes them.

Every feature is a string *token* hashed with CRC-32 into ``n_bits`` bits (:func:`stable_hash`:
identical in every process, where Python's ``hash`` is salted per process). A :class:`Features`
(one per spec: :func:`features_of`) turns a query and an ad into the tokens of its spec:

- ``bias`` (if the spec has it);
- each attribute's tokens (:mod:`learners.tokens` says what each kind gives): the query's
  and its context's, then the ad's;
- each cross ``left x right``: ``<l>^<r>`` for every token ``l`` of the query-side attribute
  ``left`` and every token ``r`` of the ad's attribute ``right`` (its first only with
  ``levels="top"``);
- with ``category_match`` and the query's predicted category path (``category=``):
  ``catmatch=<m>``, the number of leading levels (up to 3) it shares with the ad's category,
  and ``catmatch=<m>^<top>``, crossed with the first token of the ad's category (with
  ``category_match="numeric"``: one feature ``catmatch`` valued ``m``, written before the
  numeric attributes);
- each numeric attribute as one feature, the hashed attribute token valued by the number.

Every feature is valued 1.0 but the numeric ones. Features are written in that order (numeric
last), so when two hashed keys collide the later value wins: a number wins over a 1.0, and of
two numbers the later in the order (the query's before the ad's, each in the spec's order).
:meth:`Features.tokens` is the readable definition, ``(token, value)`` in that order; the fast
paths match ``{stable_hash(t, n_bits): v for t, v in tokens}`` exactly.

The work is split so that the query side is done once per query (:meth:`Features.query`) and
each candidate costs a dict copy and its crosses (:meth:`Features.candidate`): the ad's own
tokens are hashed once per distinct ad, and CRC-32 is incremental, so a cross is hashed by
resuming the left token's precomputed CRC over the right token's bytes, without building the
string. :meth:`Features.rows` builds the features of a whole batch with numpy
(:mod:`learners.feature_rows`).

An attribute the spec names that an event lacks (or carries in a form its kind cannot use, such
as a string for a numeric attribute) takes its ``default`` (None: no feature, and no crosses)
and is counted in :attr:`Features.missing`.

Examples
--------
>>> from learners.feature_spec import DEFAULT_FEATURES
>>> features = features_of(DEFAULT_FEATURES)
>>> query = {
...     "event_id": "e1", "ts": 0, "user_id": "u1", "query": "Red running shoes",
...     "context": {"device": "mobile", "region": "fr", "hour": 9, "segment": "new"},
...     "candidates": [],
... }
>>> ad = {"ad_id": "a7", "advertiser_id": "acme", "category": "sports/shoes", "bid": 0.4}
>>> tokens = features.tokens(query, ad)
>>> [t for t, _ in tokens[:8]]
['bias', 'q=red', 'q=running', 'q=shoes', 'device=mobile', 'region=fr', 'hour=08-11', 'segment=new']
>>> [t for t, _ in tokens[-4:]]
['device=mobile^cat=sports', 'hour=08-11^cat=sports', 'segment=new^cat=sports', 'segment=new^ad=a7']
>>> x = features.candidate(features.query(query), ad)
>>> x == {stable_hash(t, 20): v for t, v in tokens}, len(x)
(True, 22)

A spec that also reads the ad's bid and the browser the query came from:

>>> import dataclasses
>>> from learners.feature_spec import Attribute
>>> spec = dataclasses.replace(DEFAULT_FEATURES, attributes=(
...     *DEFAULT_FEATURES.attributes,
...     Attribute("context", "browser", "categorical", default="other"),
...     Attribute("candidate", "bid", "numeric"),
... ))
>>> more = features_of(spec)
>>> ctx = more.query(query)  # no browser: "browser=other", counted
>>> x = more.candidate(ctx, ad)
>>> x[stable_hash("bid", 20)], stable_hash("browser=other", 20) in x, more.missing
(0.4, True, Counter({'context.browser': 1}))
"""

from __future__ import annotations

import dataclasses
import operator
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from learners.feature_rows import AdTable, batch_rows
from learners.feature_spec import (
    CANDIDATE_FIELDS,
    DEFAULT_FEATURES,
    NUMERIC_MATCH,
    Attribute,
    FeatureSpec,
)
from learners.sparse import SparseRows
from learners.tokens import (
    BIAS,
    CATMATCH_TOKENS,
    SEP,
    attribute_tokens,
    catmatch,
    missing_name,
    path_parts,
    read,
    usable,
    value_of,
)

__all__ = [
    "N_BITS_DEFAULT",
    "Features",
    "QueryContext",
    "candidate_features",
    "feature_tokens",
    "features_for",
    "features_of",
    "query_context",
    "query_text_features",
    "query_text_tokens",
    "query_tokens",
    "stable_hash",
]

N_BITS_DEFAULT = 20

_crc32 = zlib.crc32
_EMPTY: Mapping[str, Any] = {}
#: The token of the category match as a number (``category_match="numeric"``).
CATMATCH = "catmatch"
#: CRCs of ``catmatch=<m>^``, the seeds of the category match's cross with the ad's top level.
CATMATCH_SEEDS = tuple(_crc32(f"{t}{SEP}".encode()) for t in CATMATCH_TOKENS)


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


@lru_cache(maxsize=1 << 16)
def _token_crcs(token: str) -> tuple[int, int]:
    """CRCs of ``token`` and of ``token^``, the seed of its crosses (a memo: vocabularies are
    small)."""
    data = token.encode()
    return _crc32(data), _crc32(data + SEP.encode())


@dataclasses.dataclass(slots=True, eq=False)
class QueryContext:
    """The query-side work of :meth:`Features.query`, done once per query and shared by all
    its candidates. Nothing in it may be changed (candidates copy ``base``).

    Attributes
    ----------
    features
        The :class:`Features` that built it (any of the same spec takes it).
    base
        The hashed bias and query-side tokens, each mapped to 1.0.
    numeric
        The hashed query-side numeric attributes, mapped to their values.
    seeds
        For each group of crosses with the same right side (in :attr:`Features.groups`' order),
        the CRCs of ``"<left token>^"`` of every left token.
    category
        The levels of the query's predicted category path, for the ``catmatch`` tokens; None
        without one (or when the spec has no category match).

    """

    features: Features = dataclasses.field(repr=False)
    base: dict[int, float]
    numeric: dict[int, float]
    seeds: tuple[tuple[int, ...], ...]
    category: tuple[str, ...] | None = None

    @property
    def spec(self) -> FeatureSpec:
        """The feature set it was built for."""
        return self.features.spec

    @property
    def n_bits(self) -> int:
        return self.features.spec.n_bits


class _Part:
    """The hashed tokens of a query-side source's attributes for one set of values."""

    __slots__ = ("keys", "missing", "seeds")

    def __init__(self, keys: tuple[int, ...], seeds: tuple, missing: tuple[str, ...]) -> None:
        self.keys, self.seeds, self.missing = keys, seeds, missing


class _Ad:
    """An ad's own hashed tokens (``own``, distinct keys), the bytes of its tokens on the right
    of each group of crosses as ``(group, bytes)`` pairs (``crosses``), its category levels
    and first category token (for ``catmatch``; None without a category), which attributes it
    lacks, and its row in the batch table (:class:`learners.feature_rows.AdTable`; -1: none
    yet). Kept for every distinct ad: as small as that."""

    __slots__ = ("crosses", "missing", "own", "parts", "row", "top")

    def __init__(
        self,
        own: tuple[int, ...],
        crosses: tuple[tuple[int, bytes], ...],
        parts: tuple[str, ...] | None,
        top: bytes | None,
        missing: tuple[str, ...],
    ) -> None:
        self.own, self.crosses, self.parts = own, crosses, parts
        self.top, self.missing, self.row = top, missing, -1


class _Source:
    """The non-numeric attributes a query reads from one mapping (the query itself or its
    context), their hashed tokens cached per distinct set of values."""

    def __init__(
        self, attributes: Sequence[Attribute], groups: Sequence[Sequence[str]], mask: int
    ) -> None:
        self.attributes = tuple(attributes)
        self._names = tuple(a.name for a in attributes)
        self._groups = groups
        self._mask = mask
        # 1, 1.0 and True are equal keys but different tokens: these kinds key by type too
        self._typed = any(a.kind in ("categorical", "bucket") for a in attributes)
        self._parts: dict[Any, _Part] = {}
        self.empty = _Part((), tuple(() for _ in groups), ())

    def part(self, mapping: Mapping[str, Any]) -> _Part:
        if not self._names:
            return self.empty
        values = tuple(map(mapping.get, self._names))
        key = (values, tuple(map(type, values))) if self._typed else values
        try:
            found = self._parts.get(key)
        except TypeError:  # an unhashable value: unusable, whatever it is
            values = _hashable(values)
            key = (values, tuple(map(type, values))) if self._typed else values
            found = self._parts.get(key)
        if found is None:
            if len(self._parts) >= 1 << 16:  # a memo, bounded: starting over changes nothing
                self._parts.clear()
            found = self._parts[key] = self._hashed(values)
        return found

    def _hashed(self, values: tuple[Any, ...]) -> _Part:
        keys: list[int] = []
        seeds: list[list[int]] = [[] for _ in self._groups]
        missing = []
        for attribute, raw in zip(self.attributes, values, strict=True):
            value, absent = value_of(attribute, raw)
            if absent:
                missing.append(missing_name(attribute))
            if value is None:
                continue
            crcs = [_token_crcs(t) for t in attribute_tokens(attribute, value)]
            keys += [crc & self._mask for crc, _ in crcs]
            for g, lefts in enumerate(self._groups):
                seeds[g] += [seed for _, seed in crcs] * lefts.count(attribute.key)
        return _Part(tuple(keys), tuple(map(tuple, seeds)), tuple(missing))


#: Stands for a value no attribute can use and no dict can key (a list).
_UNUSABLE = object()


def _hashable(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """``values``, each unhashable one replaced by :data:`_UNUSABLE`."""
    found = []
    for value in values:
        try:
            hash(value)
        except TypeError:
            value = _UNUSABLE
        found.append(value)
    return tuple(found)


def _check(spec: FeatureSpec) -> None:
    """Refuse a spec built in code that :meth:`FeatureSpec.from_mapping` would refuse too."""
    _mask(spec.n_bits)
    tokens = [a.key for a in spec.attributes]
    for attribute in spec.attributes:
        if tokens.count(attribute.key) > 1:
            raise ValueError(f"feature spec: token {attribute.key!r} is used twice")
        if attribute.default is not None and not usable(attribute.kind, attribute.default):
            raise ValueError(f"feature spec: {attribute.key}: default {attribute.default!r}")
    for cross in spec.crosses:
        left, right = spec.attribute(cross.left), spec.attribute(cross.right)
        if left is None or not left.query_side or left.kind == "numeric":
            raise ValueError(f"feature spec: {cross}: left is no query-side attribute")
        if right is None or right.query_side or right.kind == "numeric":
            raise ValueError(f"feature spec: {cross}: right is no candidate attribute")
        if cross.levels not in ("all", "top"):
            raise ValueError(f"feature spec: {cross}: levels is all or top")
    if spec.category_match and spec.category_attribute is None:
        raise ValueError("feature spec: category_match needs the candidate's category as a path")


class Features:
    """The features of one :class:`~learners.feature_spec.FeatureSpec` (see the module's
    doc): the query side once per query (:meth:`query`), then one candidate's features
    (:meth:`candidate`) or a whole batch's (:meth:`rows`); :meth:`tokens` is their readable
    definition. Get one with :func:`features_of` (it keeps one per spec; they do not pickle:
    a model pickles its spec).

    Parameters
    ----------
    spec
        The feature set.
    max_ads
        Distinct ads whose hashed tokens are kept (then they are dropped, all at once: a
        cache, it never changes a feature).
    min_batch
        Below this many candidates, :meth:`rows` builds one dict at a time: numpy's fixed
        cost per call outweighs the batch (about 3 queries here).

    Attributes
    ----------
    missing
        How many times an attribute the spec names was missing from an event (or unusable for
        its kind), by ``"<source>.<name>"``: counted by :meth:`query` for the query side (once
        per query) and by :meth:`rows` for the ad side (once per candidate), not by
        :meth:`candidate` (the join re-derives a candidate serving counted already).
    groups
        The crosses grouped by their right side, ``(right token, levels)``, in order of first
        appearance (a :class:`QueryContext` holds the left seeds of each group).

    """

    def __init__(self, spec: FeatureSpec, *, max_ads: int = 1 << 16, min_batch: int = 32) -> None:
        _check(spec)
        self.spec = spec
        self.max_ads = max_ads
        self.min_batch = min_batch
        self.missing: Counter[str] = Counter()
        mask = self._mask = _mask(spec.n_bits)
        lefts: dict[tuple[str, str], list[str]] = {}
        for cross in spec.crosses:
            lefts.setdefault((cross.right, cross.levels), []).append(cross.left)
        self.groups = tuple(lefts)
        words = [a for a in spec.attributes if a.kind != "numeric"]
        self._sources = (
            _Source([a for a in words if a.source == "query"], list(lefts.values()), mask),
            _Source([a for a in words if a.source == "context"], list(lefts.values()), mask),
        )
        self._numeric_query = tuple(
            (a, stable_hash(a.key, spec.n_bits), missing_name(a))
            for a in spec.attributes
            if a.kind == "numeric" and a.query_side
        )
        self._numeric_ad = tuple(
            (a, stable_hash(a.key, spec.n_bits), missing_name(a))
            for a in spec.attributes
            if a.kind == "numeric" and not a.query_side
        )
        self._numeric = bool(self._numeric_query or self._numeric_ad)
        own = [a for a in words if a.source == "candidate" and a.name in CANDIDATE_FIELDS]
        extra = [a for a in words if a.source == "candidate" and a.name not in CANDIDATE_FIELDS]
        self._ad_attributes = (*own, *extra)  # the order of an ad's key
        self._ad_key = _key_getter([a.name for a in own], [a.name for a in extra])
        self._typed = [
            i for i, a in enumerate(self._ad_attributes) if a.kind in ("categorical", "bucket")
        ]
        self._category = spec.category_attribute if spec.category_match else None
        self._bias = (_crc32(BIAS.encode()) & mask,) if spec.bias else ()
        self._catmatch_keys = tuple(_crc32(t.encode()) & mask for t in CATMATCH_TOKENS)
        #: the key of the category match as a number (None: as tokens)
        self._catmatch_number = (
            stable_hash(CATMATCH, spec.n_bits) if spec.category_match == NUMERIC_MATCH else None
        )
        self._ads: dict[Any, _Ad] = {}
        self._shared: dict[Any, Any] = {}  # the keys, bytes and crosses the kept ads share
        self._matches: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[int, float]] = {}
        self._table: Any = None  # learners.feature_rows.AdTable, made by the first batch

    def __repr__(self) -> str:
        return f"Features({self.spec!r})"

    # ------------------------------------------------------------------ the query side

    def query(
        self, query: Mapping[str, Any], category: str | None = None, *, counted: bool = True
    ) -> QueryContext:
        """The query-side work for every candidate of ``query``, done once; ``category`` is
        the query's predicted category path for the ``catmatch`` tokens (None: none).
        Counts the query-side attributes missing from ``query`` in :attr:`missing`, unless
        not ``counted`` (the join makes again the features of a query serving counted)."""
        source, context = self._sources
        q = source.part(query)
        c = context.part(query.get("context") or _EMPTY)
        if counted and q.missing:
            self.missing.update(q.missing)
        if counted and c.missing:
            self.missing.update(c.missing)
        numeric: dict[int, float] = {}
        for attribute, key, name in self._numeric_query:
            value, absent = value_of(attribute, read(attribute, query, _EMPTY))
            if absent and counted:
                self.missing[name] += 1
            if value is not None:
                numeric[key] = value
        return QueryContext(
            self,
            dict.fromkeys(self._bias + q.keys + c.keys, 1.0),
            numeric,
            tuple(map(operator.add, q.seeds, c.seeds)),
            None if category is None or self._category is None else path_parts(category),
        )

    # ------------------------------------------------------------------ one candidate

    def candidate(
        self, ctx: QueryContext, ad: Mapping[str, Any], missing: Counter[str] | None = None
    ) -> dict[int, float]:
        """The features of ``ad`` for a query prepared by :meth:`query`: a fresh dict (hashed
        key -> value) the caller may keep or change. Counts nothing, unless given a
        ``missing`` counter for the ad's missing attributes (as :meth:`rows` counts them)."""
        try:
            entry = self._ads[self._ad_key(ad)]
        except (KeyError, TypeError):  # an ad not kept yet, without an own field, or odd
            entry = self._ad(ad)
        crc, mask, seeds = _crc32, self._mask, ctx.seeds
        x = ctx.base.copy()
        for key in entry.own:
            x[key] = 1.0
        for group, right in entry.crosses:
            for seed in seeds[group]:
                x[crc(right, seed) & mask] = 1.0
        if ctx.category is not None and entry.parts is not None:
            found = self._matches.get((ctx.category, entry.parts))
            x.update(found or self._match(ctx.category, entry))
        if self._numeric:
            self._numbers(x, ctx, ad, missing)
        if missing is not None and entry.missing:
            missing.update(entry.missing)
        return x

    def _match(self, category: tuple[str, ...], entry: _Ad) -> dict[int, float]:
        """The hashed ``catmatch`` tokens of a predicted category and an ad's, kept per pair
        of paths (a query's candidates share a few categories, paths repeat)."""
        assert entry.parts is not None and entry.top is not None
        if len(self._matches) >= 1 << 16:  # a memo, bounded: starting over changes nothing
            self._matches.clear()
        m = catmatch(category, entry.parts)
        if self._catmatch_number is not None:
            found = {self._catmatch_number: float(m)}
        else:
            found = {
                self._catmatch_keys[m]: 1.0,
                _crc32(entry.top, CATMATCH_SEEDS[m]) & self._mask: 1.0,
            }
        self._matches[category, entry.parts] = found
        return found

    def _numbers(
        self,
        x: dict[int, float],
        ctx: QueryContext,
        ad: Mapping[str, Any],
        missing: Counter[str] | None,
    ) -> None:
        """The numeric features of a candidate, written last into ``x`` (counting the ad's
        missing ones into ``missing``, if given)."""
        x.update(ctx.numeric)
        for attribute, key, name in self._numeric_ad:
            value, absent = value_of(attribute, read(attribute, _EMPTY, ad))
            if absent and missing is not None:
                missing[name] += 1
            if value is not None:
                x[key] = value

    def _ad(self, ad: Mapping[str, Any]) -> _Ad:
        """The hashed own tokens of ``ad``, kept per distinct ad."""
        key = self._key_of(ad)
        found = self._ads.get(key)
        if found is None:
            if len(self._ads) >= self.max_ads:
                self._clear()
            found = self._new_ad(key)
        return found

    def _ads_of(self, ads: Sequence[Mapping[str, Any]]) -> list[_Ad]:
        """:meth:`_ad` of every ad of a batch (first dropping the kept ads if the batch would
        take them past ``max_ads``)."""
        if len(self._ads) + len(ads) > self.max_ads:
            self._clear()
        try:
            keys = list(map(self._ad_key, ads))
            found = list(map(self._ads.get, keys))
        except (KeyError, TypeError):
            keys = list(map(self._key_of, ads))
            found = list(map(self._ads.get, keys))
        if None in found:  # an ad may come twice in a batch: add it once
            get, new = self._ads.get, self._new_ad
            found = [
                e if e is not None else (get(k) or new(k)) for e, k in zip(found, keys, strict=True)
            ]
        return found

    def _key_of(self, ad: Mapping[str, Any]) -> tuple[Any, ...]:
        """The values of the ad's non-numeric attributes, what tells two ads apart: an
        absent one as None, an unhashable one (a list, which no contract lets through) as
        :data:`_UNUSABLE`, as unusable as it."""
        try:
            key = self._ad_key(ad)
            hash(key)
        except (KeyError, TypeError):
            key = _hashable(tuple(read(a, _EMPTY, ad) for a in self._ad_attributes))
        return key

    def _new_ad(self, key: tuple[Any, ...]) -> _Ad:
        """Hash and keep the ad of ``key`` (its values in ``_ad_attributes``' order). A key
        holding a number for a categorical or bucket attribute is kept with its types (1,
        1.0 and True are equal keys but three tokens): it is found by this method only."""
        if any(key[i] is not None and type(key[i]) is not str for i in self._typed):
            typed = (key, tuple(map(type, key)))
            found = self._ads.get(typed)
            if found is None:
                found = self._ads[typed] = self._hashed_ad(key)
            return found
        found = self._ads[key] = self._hashed_ad(key)
        return found

    def _hashed_ad(self, key: tuple[Any, ...]) -> _Ad:
        # Ads share most tokens (a category, an advertiser): so do their entries, which keeps
        # the memory a candidate reads small (about a tenth of a candidate's time, measured
        # on the benchmark's workload of 1,700 ads).
        share = self._shared.setdefault
        own: list[int] = []
        rights: list[list[bytes]] = [[] for _ in self.groups]
        parts = top = None
        missing = []
        for attribute, raw in zip(self._ad_attributes, key, strict=True):
            value, absent = value_of(attribute, raw)
            if absent:
                missing.append(missing_name(attribute))
            if value is None:
                continue
            tokens = attribute_tokens(attribute, value)
            own += [share(k, k) for k in (_token_crcs(t)[0] & self._mask for t in tokens)]
            for g, (right, levels) in enumerate(self.groups):
                if right == attribute.key:
                    crossed = tokens if levels == "all" else tokens[:1]
                    rights[g] += [share(b, b) for b in (t.encode() for t in crossed)]
            if attribute is self._category:
                parts, top = path_parts(value), tokens[0].encode()
        crosses = tuple(share((g, b), (g, b)) for g, group in enumerate(rights) for b in group)
        return _Ad(tuple(dict.fromkeys(own)), crosses, parts, top, tuple(missing))

    def _clear(self) -> None:
        self._ads.clear()
        self._shared.clear()
        if self._table is not None:
            self._table.clear()

    # ------------------------------------------------------------------ a batch

    def rows(
        self,
        contexts: Sequence[QueryContext],
        candidates: Sequence[Sequence[Mapping[str, Any]]],
    ) -> SparseRows:
        """Every candidate's features, query after query: ``candidates[i]`` are the ads of
        the query prepared as ``contexts[i]``. Each row holds the keys of :meth:`candidate`
        (a key once; sorted, from ``min_batch`` candidates on), with their values. Counts
        the ad-side attributes missing from each candidate. A candidate with no feature at
        all (a spec without bias, an event without its attributes) is an empty row."""
        spec = self.spec
        if any(c.spec is not spec and c.spec != spec for c in contexts):
            raise ValueError(
                f"every query context must be built for this feature spec (n_bits={spec.n_bits})"
            )
        total = sum(map(len, candidates))
        if total < max(self.min_batch, 1):
            pairs = zip(contexts, candidates, strict=True)
            missing = self.missing
            return SparseRows.from_dicts(
                [self.candidate(c, ad, missing) for c, ads in pairs for ad in ads]
            )
        flat = [ad for ads in candidates for ad in ads]
        entries = self._ads_of(flat)
        for names in filter(None, map(_missing_of, entries)):
            self.missing.update(names)
        columns = [
            self._numeric_column(attribute, key, name, flat)
            for attribute, key, name in self._numeric_ad
        ]
        if self._table is None:
            self._table = AdTable(len(self.groups), catmatch=self._category is not None)
        return batch_rows(
            self._table, contexts, candidates, entries, columns, self._mask, self._catmatch_number
        )

    def _numeric_column(
        self, attribute: Attribute, key: int, name: str, ads: Sequence[Mapping[str, Any]]
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """One numeric ad attribute over a batch: its key, its value for every ad and where
        it has one, counting the missing ones."""
        if attribute.name in CANDIDATE_FIELDS:
            raw = list(map(operator.methodcaller("get", attribute.name), ads))
        else:
            raw = [(ad.get("attributes") or _EMPTY).get(attribute.name) for ad in ads]
        try:
            if not set(map(type, raw)) <= {int, float}:
                raise TypeError("not all numbers")
            values = np.array(raw, dtype=np.float64)
            present = np.isfinite(values)
        except (TypeError, OverflowError):  # absent, unusable or huge: one at a time
            present = np.array([not value_of(attribute, v)[1] for v in raw], dtype=bool)
            values = np.array([float(v) if p else 0.0 for v, p in zip(raw, present, strict=True)])
        if not present.all():
            self.missing[name] += int(len(present) - present.sum())
            if attribute.default is not None:
                values[~present] = float(attribute.default)
                present[:] = True
        return key, values, present

    # ------------------------------------------------------------------ the definition

    def tokens(
        self, query: Mapping[str, Any], ad: Mapping[str, Any], category: str | None = None
    ) -> list[tuple[str, float]]:
        """Every ``(token, value)`` of a (query, ad) pair, readable, in the order the module's
        doc gives: the definition the fast paths implement. Counts nothing."""
        spec = self.spec
        found: list[tuple[str, float]] = [(BIAS, 1.0)] if spec.bias else []
        of: dict[str, tuple[str, ...]] = {}
        values = {a.key: value_of(a, read(a, query, ad))[0] for a in spec.attributes}
        for side in (True, False):  # the query's, then the ad's
            for a in spec.attributes:
                if a.query_side == side and a.kind != "numeric" and values[a.key] is not None:
                    of[a.key] = attribute_tokens(a, values[a.key])
                    found += [(t, 1.0) for t in of[a.key]]
        for cross in spec.crosses:
            lefts, rights = of.get(cross.left, ()), of.get(cross.right, ())
            rights = rights if cross.levels == "all" else rights[:1]
            found += [(f"{left}{SEP}{right}", 1.0) for left in lefts for right in rights]
        top = self._category and of.get(self._category.key)
        if top and category is not None:
            path = values[self._category.key]
            m = catmatch(path_parts(category), path_parts(path))
            if self._catmatch_number is not None:
                found.append((CATMATCH, float(m)))
            else:
                match = CATMATCH_TOKENS[m]
                found += [(match, 1.0), (f"{match}{SEP}{top[0]}", 1.0)]
        for side in (True, False):
            for a in spec.attributes:
                if a.query_side == side and a.kind == "numeric" and values[a.key] is not None:
                    found.append((a.key, values[a.key]))
        return found


_missing_of = operator.attrgetter("missing")


def _key_getter(own: list[str], extra: list[str]) -> Callable[[Mapping[str, Any]], tuple]:
    """What tells two ads apart: the values of the ad's own fields ``own`` (KeyError if one
    is absent) then those of its ``attributes`` map named ``extra``."""
    if len(own) > 1:
        fields = operator.itemgetter(*own)
    elif own:
        name = own[0]

        def fields(ad: Mapping[str, Any]) -> tuple:
            return (ad[name],)
    else:

        def fields(ad: Mapping[str, Any]) -> tuple:
            return ()

    if not extra:
        return fields

    def key(ad: Mapping[str, Any]) -> tuple:
        return (*fields(ad), *map((ad.get("attributes") or _EMPTY).get, extra))

    return key


_BY_SPEC: dict[FeatureSpec, Features] = {}
_BY_ID: dict[int, tuple[FeatureSpec, Features]] = {}


def features_of(spec: FeatureSpec) -> Features:
    """The :class:`Features` of ``spec``, one per distinct spec in a process (a memo: a spec
    equal to one seen before gets the same instance, its caches and its ``missing`` counts).

    >>> from learners.feature_spec import DEFAULT_FEATURES
    >>> features_of(DEFAULT_FEATURES) is features_of(dataclasses.replace(DEFAULT_FEATURES))
    True
    """
    found = _BY_ID.get(id(spec))  # equal specs hash slowly: the same object is found first
    if found is not None and found[0] is spec:
        return found[1]
    features = _BY_SPEC.get(spec)
    if features is None:
        features = _BY_SPEC[spec] = Features(spec)
    if len(_BY_ID) >= 256:
        _BY_ID.clear()
    _BY_ID[id(spec)] = (spec, features)
    return features


# --------------------------------------------------------------------------- conveniences
# The built-in feature set by ``n_bits``, as the callers written before feature specs ask
# for it: each delegates to ``features_of(DEFAULT_FEATURES)`` of that width.


@lru_cache(maxsize=None, typed=True)
def default_features(n_bits: int = N_BITS_DEFAULT) -> Features:
    """:func:`features_of` the built-in feature set hashed to ``n_bits`` bits."""
    _mask(n_bits)
    spec = DEFAULT_FEATURES
    return features_of(spec if n_bits == spec.n_bits else dataclasses.replace(spec, n_bits=n_bits))


def query_context(
    query: Mapping[str, Any], n_bits: int = N_BITS_DEFAULT, category: str | None = None
) -> QueryContext:
    """:meth:`Features.query` of the built-in feature set."""
    return default_features(n_bits).query(query, category)


def candidate_features(ctx: QueryContext, ad: Mapping[str, Any]) -> dict[int, float]:
    """:meth:`Features.candidate` of the feature set ``ctx`` was built for."""
    return ctx.features.candidate(ctx, ad)


def features_for(
    query: Mapping[str, Any],
    ad: Mapping[str, Any],
    n_bits: int = N_BITS_DEFAULT,
    category: str | None = None,
) -> dict[int, float]:
    """The built-in features of one (query, ad) pair; use :meth:`Features.query` once when
    scoring many ads."""
    features = default_features(n_bits)
    return features.candidate(features.query(query, category), ad)


def feature_tokens(
    query: Mapping[str, Any], ad: Mapping[str, Any], category: str | None = None
) -> list[str]:
    """The built-in feature set's tokens of a (query, ad) pair (:meth:`Features.tokens`,
    every value 1.0)."""
    return [t for t, _ in default_features().tokens(query, ad, category)]


def query_tokens(query: Mapping[str, Any]) -> tuple[str, ...]:
    """The built-in feature set's query-side tokens: distinct words, then device, region,
    hour bucket and segment.

    Examples
    --------
    >>> query_tokens({"query": "Cheap cheap flights!", "context": {"hour": 23, "device": "web"}})
    ('q=cheap', 'q=flights', 'device=web', 'hour=20-23')

    """
    return tuple(t for t, _ in default_features().tokens(query, _EMPTY) if t != BIAS)


# The query-category model's input: the bias, the query's words and word pairs.
_QUERY_TEXT = FeatureSpec(
    attributes=(Attribute("query", "query", "text", token="q", ngrams=2),),
    crosses=(),
    category_match=False,
)


@lru_cache(maxsize=None, typed=True)
def _query_text(n_bits: int) -> Features:
    _mask(n_bits)
    return features_of(dataclasses.replace(_QUERY_TEXT, n_bits=n_bits))


def query_text_tokens(query: Mapping[str, Any]) -> tuple[str, ...]:
    """Tokens of the query-category model: bias, distinct words, distinct word bigrams.

    Examples
    --------
    >>> query_text_tokens({"query": "Red shoes, red SHOES"})
    ('bias', 'q=red', 'q=shoes', 'q2=red shoes', 'q2=shoes red')

    """
    return tuple(t for t, _ in _query_text(N_BITS_DEFAULT).tokens(query, _EMPTY))


def query_text_features(query: Mapping[str, Any], n_bits: int = N_BITS_DEFAULT) -> dict[int, float]:
    """Hashed `query_text_tokens` of ``query["query"]`` (index -> 1.0), the category model's
    input: a fresh dict.

    Examples
    --------
    >>> x = query_text_features({"query": "Red shoes"}, n_bits=20)
    >>> x == {stable_hash(t, 20): 1.0 for t in ("bias", "q=red", "q=shoes", "q2=red shoes")}
    True

    """
    return _query_text(n_bits).query(query).base
