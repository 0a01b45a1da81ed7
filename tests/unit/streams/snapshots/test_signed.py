"""Signed snapshots: verified before unpickling, refused when unsigned, tampered or foreign."""

from __future__ import annotations

import pickle

import msgpack
import pytest

from learners import FTRLLogisticRegression
from streams import snapshots

KEY = b"k" * 32
TS = 1_700_000_000_000
UNPICKLED = []


class Trap:
    """Records that it was unpickled: a refused snapshot must never get that far."""

    def __reduce__(self):
        return (UNPICKLED.append, ("trap",))


def make(model=None, key: bytes = KEY) -> bytes:
    model = model or FTRLLogisticRegression(alpha=0.1)
    return snapshots.dump(
        model,
        key=key,
        model="click",
        version=3,
        parent=1,
        created_at=TS,
        n_examples=3,
        offsets={"t.examples:0": 41},
        metrics={"logloss": 0.5},
    )


def test_round_trip_keeps_metadata_and_the_model() -> None:
    model = FTRLLogisticRegression(alpha=0.1)
    for i in range(50):
        model.learn_one({i % 5: 1.0, 99: 1.0}, i % 3 == 0)
    meta, loaded = snapshots.load(make(model), key=KEY)
    assert (meta["model"], meta["version"], meta["parent"], meta["n_examples"]) == (
        "click",
        3,
        1,
        3,
    )
    assert meta["offsets"] == {"t.examples:0": 41}
    assert meta["spec"] == {
        "factory": "learners.ftrl:FTRLLogisticRegression",
        "params": {"alpha": 0.1, "beta": 1.0, "l1": 0.0, "l2": 1.0},
    }
    assert {"python", "river", "numpy"} <= meta["libraries"].keys()
    assert pickle.dumps(loaded) == pickle.dumps(model)


def _tampered(raw: bytes, **changes) -> bytes:
    record = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    record.update(changes)
    return msgpack.packb(record, use_bin_type=True)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda raw: _tampered(raw, version=4), "bad signature"),
        (lambda raw: _tampered(raw, offsets={"t.examples:0": 99}), "bad signature"),
        (lambda raw: _tampered(raw, payload=pickle.dumps(Trap())), "bad signature"),
        (lambda raw: _tampered(raw, hmac=None), "unsigned snapshot"),
        (lambda raw: make(Trap(), key=b"another key"), "bad signature"),
        (lambda raw: b"\xc1 garbage", "not a snapshot"),
        (lambda raw: msgpack.packb({"model": "click"}), "not a snapshot"),
    ],
)
def test_refused_snapshots_are_never_unpickled(mutate, reason) -> None:
    UNPICKLED.clear()
    raw = mutate(make())
    with pytest.raises(snapshots.SnapshotRefused, match=reason):
        snapshots.load(raw, key=KEY)
    with pytest.raises(snapshots.SnapshotRefused, match=reason):
        snapshots.verify(raw, key=KEY)
    assert UNPICKLED == []


def test_without_a_key_nothing_is_trusted() -> None:
    with pytest.raises(snapshots.SnapshotRefused, match="no snapshot key"):
        snapshots.load(make(), key=b"")
    with pytest.raises(ValueError, match="key is required"):
        make(key=b"")
