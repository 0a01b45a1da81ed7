"""The hashed features of every candidate of a batch of queries, built with numpy.

`candidate_features` costs a dozen CRC updates and a dict per candidate, one at a time in
Python; :class:`CandidateRows` builds the same feature sets for a whole batch as one
:class:`~learners.sparse.SparseRows`, with a fixed number of numpy calls per batch and one dict
lookup per candidate. Two facts make that possible:

- an ad's own tokens (``ad=``, ``adv=``, every ``cat=`` level) depend on the ad alone, so they
  are hashed once per ad and kept in a table (:class:`_AdTable`);
- CRC-32 is affine: resuming a CRC from a seed ``s`` over ``n`` bytes gives
  ``shift_n(s) ^ crc32(bytes)``, where ``shift_n`` is linear over GF(2), so a cross of a query
  token with an ad token is four table lookups and three XORs on the two precomputed CRCs
  (:class:`_Shifts`), for every cross of the batch at once.

The rows hold the same keys as `candidate_features` of each (query, ad) pair (a key once per
row, as in the dict), sorted within each row, all with value 1.0.

Examples
--------
>>> from learners.features import candidate_features, query_context
>>> query = {"query": "red shoes", "context": {"device": "mobile", "segment": "new"}}
>>> ads = [
...     {"ad_id": "a1", "advertiser_id": "acme", "category": "sports/shoes"},
...     {"ad_id": "a2", "advertiser_id": "zeta", "category": "electronics"},
... ]
>>> ctx = query_context(query, n_bits=20, category="sports/shoes/running")
>>> rows = CandidateRows(n_bits=20).rows([ctx], [ads])
>>> len(rows), rows.dicts == [candidate_features(ctx, ad) for ad in ads]
(2, True)
"""

from __future__ import annotations

import operator
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from learners.features import (
    _CATMATCH_CRCS,
    _CATMATCH_MAX,
    _CATMATCH_SEEDS,
    QueryContext,
    _category_levels,
    _category_parts,
    _mask,
    candidate_features,
)
from learners.sparse import SparseRows

__all__ = ["CandidateRows"]

_ABSENT = np.int64(1) << 62  # sorts after every key (keys are below 2**32)
_CATMATCH_CRC = np.array(_CATMATCH_CRCS, dtype=np.int64)
_CATMATCH_SEED = np.array(_CATMATCH_SEEDS, dtype=np.int64)
_ad_key = operator.itemgetter("ad_id", "advertiser_id", "category")


class _Shifts:
    """``shift_n`` for each byte length ``n`` met so far, as four 256-entry tables (one per
    byte of the seed), indexed by a small id per length."""

    def __init__(self) -> None:
        self._id: dict[int, int] = {}
        self._tables = np.zeros(0, dtype=np.int64)  # flat: [length id, seed byte, byte value]

    def id(self, n: int) -> int:
        """The id of byte length ``n`` (its tables are built the first time)."""
        found = self._id.get(n)
        if found is None:
            found = self._id[n] = len(self._id)
            zeros = bytes(n)
            base = zlib.crc32(zeros)
            table = [zlib.crc32(zeros, b << (8 * k)) ^ base for k in range(4) for b in range(256)]
            self._tables = np.concatenate([self._tables, np.array(table, dtype=np.int64)])
        return found

    def __call__(self, seeds: np.ndarray, length_ids: np.ndarray) -> np.ndarray:
        """``shift_n(seed)`` elementwise (arrays broadcast together)."""
        t, at = self._tables.take, length_ids * 1024
        return (
            t(at + (seeds & 0xFF))
            ^ t(at + (256 + ((seeds >> 8) & 0xFF)))
            ^ t(at + (512 + ((seeds >> 16) & 0xFF)))
            ^ t(at + (768 + (seeds >> 24)))
        )


class _AdTable:
    """Every ad seen (by id, advertiser and category) as a row of arrays: the CRCs of its
    ``ad=`` and ``adv=`` tokens, of each ``cat=`` level (padded to the deepest category) with
    the id of its byte length, of its ``ad=`` bytes with the id of their length, and the ids of
    its first category prefixes (for ``catmatch``). Starts over before a batch that would take
    it past ``capacity`` ads."""

    _COLUMNS: ClassVar[dict[str, tuple[tuple[int, ...], Any]]] = {  # name -> (shape, fill)
        "own": ((2,), 0),
        "level_crc": ((1,), 0),
        "level_length": ((1,), 0),
        "level_valid": ((1,), False),
        "ad_crc": ((), 0),
        "ad_length": ((), 0),
        "prefix": ((_CATMATCH_MAX,), -1),
    }

    def __init__(self, shifts: _Shifts, capacity: int) -> None:
        self._shifts = shifts
        self.capacity = capacity
        self._clear()

    def _clear(self) -> None:
        self._row: dict[tuple[str, str, str], int] = {}
        self._prefix_ids: dict[str, int] = {}  # category prefix -> id, for catmatch
        self._prefix_rows: dict[tuple[tuple[str, ...], int], list[int]] = {}
        for name, (shape, fill) in self._COLUMNS.items():
            setattr(self, name, np.full((64, *shape), fill, dtype=type(fill)))

    def _grow(self, size: int, depth: int) -> None:
        """Room for ``size`` ads and categories ``depth`` levels deep, keeping every row."""
        for name, (shape, fill) in self._COLUMNS.items():
            old = getattr(self, name)
            width = (depth,) if name.startswith("level_") else shape
            new = np.full((size, *width), fill, dtype=old.dtype)
            new[(slice(len(old)), *(slice(n) for n in old.shape[1:]))] = old
            setattr(self, name, new)

    def rows_of(self, ads: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The table row of each ad, adding the ads not seen yet."""
        if len(self._row) + len(ads) > self.capacity:
            self._clear()
        keys = list(map(_ad_key, ads))
        found = list(map(self._row.get, keys))
        if None in found:  # an ad may come twice in a batch: add it once
            row, add = self._row, self._add
            found = [row[key] if key in row else add(key) for key in keys]
        return np.array(found, dtype=np.int64)

    def _add(self, key: tuple[str, str, str]) -> int:
        ad_id, advertiser_id, category = key
        levels, level_crcs = _category_levels(category)
        r = len(self._row)
        size, depth = self.own.shape[0], self.level_crc.shape[1]
        if r == size or len(levels) > depth:
            self._grow(size * 2 if r == size else size, max(depth, len(levels)))
        ad_bytes = b"ad=" + ad_id.encode()
        self.own[r] = (zlib.crc32(ad_bytes), zlib.crc32(b"adv=" + advertiser_id.encode()))
        for j, (level, crc) in enumerate(zip(levels, level_crcs, strict=True)):
            self.level_crc[r, j] = crc
            self.level_length[r, j] = self._shifts.id(len(level))
            self.level_valid[r, j] = True
        self.ad_crc[r], self.ad_length[r] = zlib.crc32(ad_bytes), self._shifts.id(len(ad_bytes))
        self.prefix[r] = self.prefix_row(_category_parts(category), past_end=-1)
        self._row[key] = r
        return r

    def prefix_row(self, parts: Sequence[str], past_end: int) -> list[int]:
        """Ids of the first ``_CATMATCH_MAX`` prefixes of a category path, ``past_end`` after
        its last level (the query side and the ad side pad differently: padding never
        matches)."""
        key = (tuple(parts), past_end)
        found = self._prefix_rows.get(key)
        if found is None:
            ids = self._prefix_ids
            prefixes = ["/".join(parts[: i + 1]) for i in range(min(len(parts), _CATMATCH_MAX))]
            found = [ids.setdefault(p, len(ids)) for p in prefixes]
            found += [past_end] * (_CATMATCH_MAX - len(found))
            self._prefix_rows[key] = found
        return found


def _padded(lists: Sequence[Sequence[int]], fill: int) -> tuple[np.ndarray, np.ndarray]:
    """Lists of ints as one matrix padded with ``fill``, and where it holds a value."""
    width = max(map(len, lists), default=0)
    matrix = np.array([[*values, *[fill] * (width - len(values))] for values in lists], np.int64)
    matrix = matrix.reshape(len(lists), width)
    return matrix, matrix != fill


class CandidateRows:
    """Builds the `candidate_features` rows of many queries' candidates at once.

    One builder serves one feature space (``n_bits``) and keeps, across batches, the hashed
    tokens of up to ``max_ads`` ads (then it starts over: a cache, it never changes a row).

    Parameters
    ----------
    n_bits
        Size of the hashed feature space, in bits, as for `query_context`.
    max_ads
        Ads whose tokens are kept between batches.
    min_batch
        Below this many candidates, rows are built one `candidate_features` dict at a time:
        numpy's fixed cost per call outweighs the batch (about 3 queries here).

    """

    def __init__(self, n_bits: int, max_ads: int = 1 << 16, min_batch: int = 32) -> None:
        self.n_bits = n_bits
        self.min_batch = min_batch
        self._mask = _mask(n_bits)
        self._shifts = _Shifts()
        self._ads = _AdTable(self._shifts, max_ads)

    def rows(
        self, contexts: Sequence[QueryContext], candidates: Sequence[Sequence[Mapping[str, Any]]]
    ) -> SparseRows:
        """Every candidate's features, query after query: ``candidates[i]`` are the ads of the
        query prepared as ``contexts[i]`` (by `query_context` with this ``n_bits``)."""
        if any(ctx.n_bits != self.n_bits for ctx in contexts):
            raise ValueError(f"every query context must have n_bits={self.n_bits}")
        counts = np.fromiter(map(len, candidates), dtype=np.int64, count=len(candidates))
        if counts.sum() < max(self.min_batch, 1):
            pairs = zip(contexts, candidates, strict=True)
            return SparseRows.from_dicts(
                [candidate_features(c, a) for c, ads in pairs for a in ads]
            )
        of_query = np.repeat(np.arange(len(contexts)), counts)
        ad = self._ads.rows_of([a for ads in candidates for a in ads])  # after any growth:
        table, shift = self._ads, self._shifts  # read the arrays only now

        base, base_valid = _padded([list(ctx.base) for ctx in contexts], -1)
        words, words_valid = _padded([ctx.word_seeds for ctx in contexts], -1)
        tops, tops_valid = _padded([ctx.top_seeds for ctx in contexts], -1)
        segment, segment_valid = _padded(
            [() if ctx.segment_seed is None else (ctx.segment_seed,) for ctx in contexts], -1
        )
        no_category = [-2] * _CATMATCH_MAX
        category = np.array(
            [
                no_category if c.category is None else table.prefix_row(c.category, -2)
                for c in contexts
            ],
            dtype=np.int64,
        ).reshape(len(contexts), _CATMATCH_MAX)
        has_category = np.array([c.category is not None for c in contexts], dtype=bool)

        level_crc, level_length = table.level_crc[ad], table.level_length[ad]
        level_valid = table.level_valid[ad]
        top_crc, top_length = level_crc[:, :1], level_length[:, :1]
        word_seed = words[of_query][:, :, None]
        word_level = shift(np.where(word_seed >= 0, word_seed, 0), level_length[:, None, :])
        top_seed = np.where(tops_valid, tops, 0)[of_query]
        segment_seed = np.where(segment_valid, segment, 0)[of_query]
        matched = (category[of_query] == table.prefix[ad]).sum(axis=1)[:, None]
        with_category = has_category[of_query][:, None]

        keys = np.concatenate(
            [
                base[of_query],
                table.own[ad],
                level_crc,
                (word_level ^ level_crc[:, None, :]).reshape(len(ad), -1),
                shift(top_seed, top_length) ^ top_crc,
                shift(segment_seed, table.ad_length[ad][:, None]) ^ table.ad_crc[ad][:, None],
                _CATMATCH_CRC[matched],
                shift(_CATMATCH_SEED[matched], top_length) ^ top_crc,
            ],
            axis=1,
        )
        present = np.concatenate(
            [
                base_valid[of_query],
                np.ones((len(ad), 2), dtype=bool),
                level_valid,
                (words_valid[of_query][:, :, None] & level_valid[:, None, :]).reshape(len(ad), -1),
                tops_valid[of_query],
                segment_valid[of_query],
                with_category,
                with_category,
            ],
            axis=1,
        )
        keys = np.where(present, keys & self._mask, _ABSENT)
        keys.sort(axis=1)
        first = keys != _ABSENT
        first[:, 1:] &= keys[:, 1:] != keys[:, :-1]  # a key once per row
        lengths = first.sum(axis=1)
        starts = np.zeros(len(ad), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        indices = keys[first]
        return SparseRows(indices, np.ones(len(indices)), starts)
