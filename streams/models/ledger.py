"""What a learner has applied to one model: the bookkeeping behind exactly-once learning.

Two positions matter for an example. Its **offset** on ``examples`` says where it sits in the
learner's input; every offset at or below the last applied one is a *replay* (Faust re-delivers
from the committed offset after a restart). Its **origin** (the first entry of its ``source``:
the impression or query label it was made from) says which input event it labels; the join
emits the labels of one input partition in offset order, so an origin at or below the highest
one applied is a *duplicate* (the join re-emitted it after a restart of its own). So is an
example whose id is among the last ``capacity`` ids learned (the same label sent twice by its
producer: another origin, the same deterministic id).

The ledger also keeps a digest of the ids it learned: the sum of their 64-bit hashes modulo
2**64, which two learners that applied the same set of examples share whatever their order,
and which changes when an example is missing or counted twice.

>>> def example(origin_offset, example_id="imp-40"):
...     return {"example_id": example_id, "source": {"impressions:1": origin_offset}}
>>> ledger = Ledger()
>>> ledger.admit("examples:0", 7, example(40)) is None  # new: learn it
True
>>> ledger.admit("examples:0", 7, example(40))  # re-delivered
'replayed'
>>> ledger.admit("examples:0", 8, example(40, "imp-x"))  # the same label, emitted again
'duplicate'
>>> ledger.admit("examples:0", 9, example(41))  # the same id, sent twice
'duplicate'
>>> ledger.offsets, ledger.n_learned, ledger.digest == id_digest(["imp-40"])
({'examples:0': 9}, 1, True)
"""

from __future__ import annotations

import array
import collections
import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Ledger", "id_digest", "origin_of"]

_MASK = (1 << 64) - 1

Origin = tuple[str, int]


def _id_hash(example_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(example_id.encode(), digest_size=8).digest(), "little")


def id_digest(example_ids: Iterable[str]) -> int:
    """The digest of a set of example ids, as a ledger computes it (order does not matter)."""
    return sum(map(_id_hash, example_ids)) & _MASK


def origin_of(source: Mapping[str, int]) -> Origin | None:
    """The example's origin: the first ``topic:partition`` of its source and its offset."""
    for position, offset in source.items():
        return position, offset
    return None


@dataclasses.dataclass(slots=True)
class Ledger:
    """Offsets, origins and the id digest of everything one model has applied."""

    offsets: dict[str, int] = dataclasses.field(default_factory=dict)
    origins: dict[str, int] = dataclasses.field(default_factory=dict)
    digest: int = 0
    n_learned: int = 0
    capacity: int = 20_000  # recent ids remembered
    #: id hashes, oldest first (ordered: dropping the oldest of a plain dict scans its holes)
    recent: collections.OrderedDict[int, None] = dataclasses.field(
        default_factory=collections.OrderedDict
    )

    def admit(self, position: str, offset: int, example: Mapping[str, Any]) -> str | None:
        """Record the (decoded) example at ``position``/``offset`` as handled: ``None`` if it
        is new and is to be learned now, ``"replayed"`` or ``"duplicate"`` if it is skipped."""
        offsets = self.offsets
        if offset <= offsets.get(position, -1):
            return "replayed"
        offsets[position] = offset
        origin = origin_of(example["source"])
        hashed = _id_hash(example["example_id"])
        recent = self.recent
        if hashed in recent or (
            origin is not None and origin[1] <= self.origins.get(origin[0], -1)
        ):
            return "duplicate"
        if origin is not None:
            self.origins[origin[0]] = origin[1]  # above the highest so far: not a duplicate
        self.digest = (self.digest + hashed) & _MASK
        self.n_learned += 1
        recent[hashed] = None
        if len(recent) > self.capacity:
            recent.popitem(last=False)
        return None

    def to_meta(self) -> dict[str, Any]:
        """The snapshot metadata fields that carry this ledger."""
        return {
            "offsets": dict(self.offsets),
            "origins": dict(self.origins),
            "ids_digest": self.digest,
            "n_examples": self.n_learned,
            "recent_ids": array.array("Q", self.recent).tobytes(),
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Ledger:
        """The ledger a snapshot was written with."""
        return cls(
            offsets=dict(meta.get("offsets", {})),
            origins=dict(meta.get("origins", {})),
            digest=int(meta.get("ids_digest", 0)),
            n_learned=int(meta.get("n_examples", 0)),
            recent=collections.OrderedDict.fromkeys(array.array("Q", meta.get("recent_ids", b""))),
        )
