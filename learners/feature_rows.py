"""The hashed features of every candidate of a batch of queries, built with numpy.

:meth:`learners.features.Features.candidate` costs a dict and a few CRC updates per
candidate, one at a time in Python; :meth:`~learners.features.Features.rows` builds the same
features for a whole batch as one :class:`~learners.sparse.SparseRows` with :func:`batch_rows`,
a fixed number of numpy calls per batch. Two facts make that possible:

- an ad's own tokens (those of its categorical, bucket, text and path attributes) depend on the
  ad alone, so they are hashed once per distinct ad and kept in a table (:class:`AdTable`);
  its numeric attributes (a bid) may change from one query to the next, and come as a column
  per batch;
- CRC-32 is affine: resuming a CRC from a seed ``s`` over ``n`` bytes gives
  ``shift_n(s) ^ crc32(bytes)``, where ``shift_n`` is linear over GF(2), so a cross of a query
  token with an ad token is four table lookups and three XORs on the two precomputed CRCs
  (:class:`_Shifts`), for every cross of the batch at once.

Each row holds the keys of ``Features.candidate`` of its (query, ad) pair, sorted, a key once,
with its value: where keys collide, the value written last by ``candidate`` (numbers are
written last, in order).

Examples
--------
>>> from learners.feature_spec import DEFAULT_FEATURES
>>> from learners.features import Features
>>> features = Features(DEFAULT_FEATURES, min_batch=0)  # numpy from the first candidate
>>> query = {"query": "red shoes", "context": {"device": "mobile", "segment": "new"}}
>>> ads = [
...     {"ad_id": "a1", "advertiser_id": "acme", "category": "sports/shoes"},
...     {"ad_id": "a2", "advertiser_id": "zeta", "category": "electronics"},
... ]
>>> ctx = features.query(query, category="sports/shoes/running")
>>> rows = features.rows([ctx], [ads])
>>> len(rows), rows.dicts == [features.candidate(ctx, ad) for ad in ads]
(2, True)
"""

from __future__ import annotations

import operator
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from learners.sparse import SparseRows
from learners.tokens import CATMATCH_MAX, CATMATCH_TOKENS, SEP

if TYPE_CHECKING:
    from learners.features import QueryContext, _Ad

__all__ = ["AdTable", "batch_rows"]

_ABSENT = np.int64(1) << 62  # sorts after every key (keys are below 2**32)
_CATMATCH_CRC = np.array([zlib.crc32(t.encode()) for t in CATMATCH_TOKENS], dtype=np.int64)
_CATMATCH_SEED = np.array(
    [zlib.crc32(f"{t}{SEP}".encode()) for t in CATMATCH_TOKENS], dtype=np.int64
)
_row_of = operator.attrgetter("row")


class _Shifts:
    """``shift_n`` for each byte length ``n`` met so far, as four 256-entry tables (one per
    byte of the seed), indexed by a small id per length."""

    def __init__(self) -> None:
        self._id: dict[int, int] = {}
        self._tables = np.zeros(0, dtype=np.int64)  # flat: [length id, seed byte, byte value]
        self.id(0)  # id 0, the padding's: there are tables to look up before any length

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


class AdTable:
    """Every ad of the batches so far (a :class:`learners.features._Ad`) as a row of arrays:
    its own hashed tokens (``own``, padded with -1), for each of the ``n_groups`` groups of
    crosses the CRCs of its right tokens (``right<g>``, padded with -1) with the ids of their
    byte lengths (``length<g>``), and with ``catmatch`` the ids of its first category prefixes
    (``prefix``), the CRC and length id of its first category token and whether it has a
    category. :meth:`clear` starts over (with the ads the rows belong to)."""

    def __init__(self, n_groups: int, *, catmatch: bool) -> None:
        self.n_groups = n_groups
        self.catmatch = catmatch
        self.shifts = _Shifts()
        shapes: dict[str, tuple[int, Any]] = {"own": (1, -1)}  # name -> (width; 0: none, fill)
        for g in range(n_groups):
            shapes |= {f"right{g}": (1, -1), f"length{g}": (1, 0)}
        if catmatch:
            shapes |= {"prefix": (CATMATCH_MAX, -1), "top": (0, 0), "top_length": (0, 0)}
            shapes |= {"has_category": (0, False)}
        self._shapes = shapes
        self.clear()

    def clear(self) -> None:
        self.size = 0
        self.columns = {
            name: np.full((64, width) if width else 64, fill, dtype=type(fill))
            for name, (width, fill) in self._shapes.items()
        }
        self._prefix_ids: dict[str, int] = {}  # category prefix -> id, for catmatch
        self._prefix_rows: dict[tuple[tuple[str, ...], int], list[int]] = {}

    def rows_of(self, ads: Sequence[_Ad]) -> np.ndarray:
        """The row of each ad, adding those without one."""
        rows = list(map(_row_of, ads))
        if -1 in rows:
            for ad in ads:
                if ad.row < 0:
                    self._add(ad)
            rows = list(map(_row_of, ads))
        return np.array(rows, dtype=np.int64)

    def _add(self, ad: _Ad) -> None:
        rights: list[list[bytes]] = [[] for _ in range(self.n_groups)]
        for g, right in ad.crosses:
            rights[g].append(right)
        widths = {"own": len(ad.own)}
        for g, group in enumerate(rights):
            widths[f"right{g}"] = widths[f"length{g}"] = len(group)
        columns, r = self.columns, self.size
        size = len(columns["own"])
        if r == size or any(n > columns[k].shape[1] for k, n in widths.items()):
            self._grow(2 * size if r == size else size, widths)
        columns = self.columns
        columns["own"][r, : len(ad.own)] = list(ad.own)
        for g, group in enumerate(rights):
            columns[f"right{g}"][r, : len(group)] = [zlib.crc32(b) for b in group]
            columns[f"length{g}"][r, : len(group)] = [self.shifts.id(len(b)) for b in group]
        if self.catmatch and ad.parts is not None:
            assert ad.top is not None
            columns["prefix"][r] = self.prefix_row(ad.parts, past_end=-1)
            columns["top"][r] = zlib.crc32(ad.top)
            columns["top_length"][r] = self.shifts.id(len(ad.top))
            columns["has_category"][r] = True
        ad.row = r
        self.size = r + 1

    def _grow(self, size: int, widths: Mapping[str, int]) -> None:
        """Room for ``size`` ads, and ``widths`` tokens in the padded columns, keeping every
        row."""
        for name, old in self.columns.items():
            width, fill = self._shapes[name]
            shape = (size, max(old.shape[1], widths.get(name, 0))) if width else (size,)
            new = np.full(shape, fill, dtype=old.dtype)
            new[(slice(len(old)), *(slice(n) for n in old.shape[1:]))] = old
            self.columns[name] = new

    def prefix_row(self, parts: Sequence[str], past_end: int) -> list[int]:
        """Ids of the first ``CATMATCH_MAX`` prefixes of a category path, ``past_end`` after
        its last level (the query side and the ad side pad differently: padding never
        matches)."""
        key = (tuple(parts), past_end)
        found = self._prefix_rows.get(key)
        if found is None:
            ids = self._prefix_ids
            prefixes = ["/".join(parts[: i + 1]) for i in range(min(len(parts), CATMATCH_MAX))]
            found = [ids.setdefault(p, len(ids)) for p in prefixes]
            found += [past_end] * (CATMATCH_MAX - len(found))
            self._prefix_rows[key] = found
        return found


def _padded(lists: Sequence[Sequence[int]], fill: int) -> tuple[np.ndarray, np.ndarray]:
    """Lists of ints as one matrix padded with ``fill``, and where it holds a value."""
    width = max(map(len, lists), default=0)
    matrix = np.array([[*values, *[fill] * (width - len(values))] for values in lists], np.int64)
    matrix = matrix.reshape(len(lists), width)
    return matrix, matrix != fill


def _numbers(
    contexts: Sequence[QueryContext],
    of_query: np.ndarray,
    numeric: Sequence[tuple[int, np.ndarray, np.ndarray]],
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every numeric feature of the batch as columns (a key, a value and whether there is
    one, per candidate) in the order they are written: the query's, then the ad's."""
    width = max((len(ctx.numeric) for ctx in contexts), default=0)
    if width:
        keys, found = _padded([list(ctx.numeric) for ctx in contexts], -1)
        values = np.array(
            [[*ctx.numeric.values(), *[0.0] * (width - len(ctx.numeric))] for ctx in contexts]
        )
        for j in range(width):
            yield keys[of_query, j], values[of_query, j], found[of_query, j]
    for key, value, present in numeric:
        yield np.full(len(of_query), key, dtype=np.int64), value, present


def batch_rows(
    table: AdTable,
    contexts: Sequence[QueryContext],
    candidates: Sequence[Sequence[Any]],
    ads: Sequence[_Ad],
    numeric: Sequence[tuple[int, np.ndarray, np.ndarray]],
    mask: int,
    catmatch_number: int | None = None,
) -> SparseRows:
    """The rows of every candidate, query after query: ``candidates[i]`` (``ads``, all of
    them in order, hashed) are the candidates of the query prepared as ``contexts[i]``;
    ``numeric`` holds, for each numeric ad attribute in the spec's order, its hashed key, its
    value for every candidate and where it has one; ``catmatch_number``: the key of the
    category match as a number, written before them (None: the match as tokens)."""
    counts = np.fromiter(map(len, candidates), dtype=np.int64, count=len(candidates))
    of_query = np.repeat(np.arange(len(contexts)), counts)
    ad = table.rows_of(ads)  # after any growth: read the columns only now
    columns, shift, n = table.columns, table.shifts, len(ad)

    base, base_valid = _padded([list(ctx.base) for ctx in contexts], -1)
    own = columns["own"][ad]
    keys, present = [base[of_query], own], [base_valid[of_query], own >= 0]
    numbers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # written in this order
    for g in range(table.n_groups):
        seeds, seeds_valid = _padded([ctx.seeds[g] for ctx in contexts], -1)
        if not seeds.shape[1]:
            continue
        right, length = columns[f"right{g}"][ad], columns[f"length{g}"][ad]
        seed = np.where(seeds_valid, seeds, 0)[of_query][:, :, None]
        keys.append((shift(seed, length[:, None, :]) ^ right[:, None, :]).reshape(n, -1))
        valid = seeds_valid[of_query][:, :, None] & (right >= 0)[:, None, :]
        present.append(valid.reshape(n, -1))
    if table.catmatch:
        no_category = [-2] * CATMATCH_MAX
        category = np.array(
            [
                no_category if c.category is None else table.prefix_row(c.category, -2)
                for c in contexts
            ],
            dtype=np.int64,
        ).reshape(len(contexts), CATMATCH_MAX)
        has_category = np.array([c.category is not None for c in contexts], dtype=bool)
        matched = (category[of_query] == columns["prefix"][ad]).sum(axis=1)[:, None]
        with_category = (has_category[of_query] & columns["has_category"][ad])[:, None]
        if catmatch_number is None:
            top, top_length = columns["top"][ad][:, None], columns["top_length"][ad][:, None]
            keys += [_CATMATCH_CRC[matched], shift(_CATMATCH_SEED[matched], top_length) ^ top]
            present += [with_category, with_category]
        else:
            match = (np.full(n, catmatch_number), matched[:, 0].astype(float), with_category[:, 0])
            numbers.append(match)
    numbers += _numbers(contexts, of_query, numeric)  # as many keys as values
    for key, _, found in numbers:
        keys.append(key[:, None])
        present.append(found[:, None])

    matrix = np.where(np.concatenate(present, axis=1), np.concatenate(keys, axis=1) & mask, _ABSENT)
    matrix.sort(axis=1)
    kept = matrix != _ABSENT
    kept[:, 1:] &= matrix[:, 1:] != matrix[:, :-1]  # a key once per row
    lengths = kept.sum(axis=1)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    indices = matrix[kept]
    entries = np.ones(len(indices))
    if numbers:  # each number where its key is, in order: the last of equal keys wins
        flat = (np.repeat(np.arange(n), lengths) << 32) | indices  # sorted: rows, then keys
        for key, value, found in numbers:
            rows = np.flatnonzero(found)
            entries[np.searchsorted(flat, (rows << 32) | (key[rows] & mask))] = value[rows]
    return SparseRows(indices, entries, starts)
