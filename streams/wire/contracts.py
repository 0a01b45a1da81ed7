"""Event contracts: msgpack encoding, decoding and validation of every event on the wire.

One module that both ``streams`` and ``producers`` import (it imports neither Faust nor
Kafka). Every payload is a msgpack map with a schema version ``v``; timestamps are integer
milliseconds since the epoch. Decoders are strict and explicit: they return the decoded map
(plain ``dict``, cheap to build) or raise :class:`InvalidEvent` with a short, stable reason that
the dead-letter record carries.

>>> raw = encode(click(impression_id="i-1", ts=1_700_000_000_000))
>>> decode_click(raw)["impression_id"]
'i-1'
>>> decode_click(b"\\xc1")
Traceback (most recent call last):
...
streams.wire.contracts.InvalidEvent: not msgpack: ...
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

import msgpack
import msgspec

from learners.errors import AdstreamError

__all__ = [
    "COMMANDS",
    "MAX_CANDIDATES",
    "MAX_PAYLOAD_BYTES",
    "MAX_TEXT_BYTES",
    "SCHEMA_VERSION",
    "InvalidEvent",
    "candidate",
    "click",
    "command",
    "dead_letter",
    "decode_click",
    "decode_command",
    "decode_dead_letter",
    "decode_example",
    "decode_impression",
    "decode_map",
    "decode_prediction",
    "decode_query",
    "decode_query_label",
    "decode_ranking",
    "encode",
    "example",
    "impression",
    "is_category_path",
    "prediction",
    "query",
    "query_label",
    "ranking",
]

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 1 << 20  # events; snapshots travel on their own topic with their own limit
MAX_CANDIDATES = 100
MAX_TEXT_BYTES = 1024
MAX_ID_CHARS = 128
MAX_CONTEXT_KEYS = 32
MAX_CANDIDATE_ATTRIBUTES = 16
MAX_SLICES = 8
MAX_FEATURES = 4096
MIN_TS_MS = 946_684_800_000  # 2000-01-01: anything earlier is a unit error or garbage
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
MAX_BID = 1e6
DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024
#: A category path: 1 to 8 lower-case segments of letters, digits, ``_`` or ``-``, joined by
#: ``/`` (``electronics/phones/cases``). The empty path is the taxonomy's root.
_PATH = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}(?:/[a-z0-9][a-z0-9_-]{0,63}){0,7}")
#: Control commands and the arguments each requires (``warm_start_from`` is optional).
COMMANDS: dict[str, tuple[str, ...]] = {
    "add_class": ("model", "path"),
    "remove_class": ("model", "path"),
    "set_weights": ("alpha", "beta"),
    "snapshot": ("model",),
    "promote": ("model", "version"),  # version -1: serve the newest again
    "rollback": ("model", "version"),  # the version to go back to, resolved by the sender
}
MAX_WEIGHT = 1e6
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
_Id0 = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]  # may be empty
_Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
_to_builtins = msgspec.to_builtins
_encode = msgspec.msgpack.Encoder().encode


class InvalidEvent(AdstreamError, ValueError):
    """A payload that does not satisfy its contract; ``reason`` is stable and short."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(event: Mapping[str, Any]) -> bytes:
    """Serialize an event map (built by the constructors below) to msgpack bytes: the bytes
    ``msgpack.packb(event, use_bin_type=True)`` gives, written by msgspec's encoder (four
    times faster)."""
    return _encode(event)


# --------------------------------------------------------------------------- constructors


def candidate(
    *,
    ad_id: str,
    advertiser_id: str,
    category: str,
    bid: float,
    attributes: Mapping[str, str | int | float] | None = None,
) -> dict[str, Any]:
    """One ad that a query may show; ``attributes``: more of its features (a bounded map of
    short strings and numbers, like a query's ``context``), read by a feature spec."""
    ad = {"ad_id": ad_id, "advertiser_id": advertiser_id, "category": category, "bid": bid}
    if attributes is not None:
        ad["attributes"] = dict(attributes)
    return ad


def query(
    *,
    event_id: str,
    ts: int,
    user_id: str,
    text: str,
    context: Mapping[str, str | int | float],
    candidates: list[dict[str, Any]],
) -> dict[str, Any]:
    """A search query with the candidate ads to score (key: ``user_id``)."""
    return {
        "v": SCHEMA_VERSION,
        "event_id": event_id,
        "ts": ts,
        "user_id": user_id,
        "query": text,
        "context": dict(context),
        "candidates": candidates,
    }


def prediction(
    *,
    event_id: str,
    ts_event: int,
    ts_scored: int,
    ad_ids: list[str],
    scores: Mapping[str, list[float]],
    versions: Mapping[str, int],
    category: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Per-objective scores for every candidate of one query (key: ``event_id``).

    ``ad_ids`` names the candidates in the query's order, so that any consumer can combine
    and rank the scores without the query.
    """
    return {
        "v": SCHEMA_VERSION,
        "event_id": event_id,
        "ts_event": ts_event,
        "ts_scored": ts_scored,
        "ad_ids": ad_ids,
        "scores": dict(scores),
        "versions": dict(versions),
        "category": dict(category or {}),
    }


def ranking(
    *,
    event_id: str,
    ts_event: int,
    ad_ids: list[str],
    combined: list[float],
    weights: Mapping[str, float | int],
    arm: str,
    ts_ranked: int,
) -> dict[str, Any]:
    """Candidates in display order with their combined scores (key: ``event_id``)."""
    return {
        "v": SCHEMA_VERSION,
        "event_id": event_id,
        "ts_event": ts_event,
        "ts_ranked": ts_ranked,
        "ad_ids": ad_ids,
        "combined": combined,
        "weights": dict(weights),
        "arm": arm,
    }


def impression(
    *,
    impression_id: str,
    event_id: str,
    ad_id: str,
    position: int,
    ts: int,
    arm: str,
    propensity: float = 1.0,
) -> dict[str, Any]:
    """An ad that was shown (key: ``impression_id``); ``propensity`` is the probability with
    which the front-end chose to show it (1.0 when it always shows the top-ranked ad)."""
    return {
        "propensity": propensity,
        "v": SCHEMA_VERSION,
        "impression_id": impression_id,
        "event_id": event_id,
        "ad_id": ad_id,
        "position": position,
        "ts": ts,
        "arm": arm,
    }


def click(*, impression_id: str, ts: int) -> dict[str, Any]:
    """A click on a shown ad (key: ``impression_id``)."""
    return {"v": SCHEMA_VERSION, "impression_id": impression_id, "ts": ts}


def example(
    *,
    example_id: str,
    model: str,
    features: Mapping[int, float],
    label: float,
    weight: float,
    sampling_rate: float,
    ts_event: int,
    ts_label: int,
    source: Mapping[str, int],
    slices: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A labelled example for one model (key: model name).

    ``source`` maps ``"topic:partition"`` to the offset of the input that closed the example.
    ``sampling_rate`` is the probability the join kept it with (negatives may be down-sampled).
    ``slices`` (optional) names the segments the model's health is reported per, such as
    ``{"device": "mobile", "vertical": "travel"}``.
    """
    optional = {"slices": dict(slices)} if slices else {}
    return {
        "v": SCHEMA_VERSION,
        "example_id": example_id,
        "model": model,
        "features": dict(features),
        "label": label,
        "weight": weight,
        "sampling_rate": sampling_rate,
        "ts_event": ts_event,
        "ts_label": ts_label,
        "source": dict(source),
        **optional,
    }


def rating(*, impression_id: str, quality: float, ts: int) -> dict[str, Any]:
    """A quality label in [0, 1] for a shown ad (key: ``impression_id``)."""
    return {"v": SCHEMA_VERSION, "impression_id": impression_id, "quality": quality, "ts": ts}


def query_label(*, event_id: str, query: str, path: str, ts: int) -> dict[str, Any]:
    """The true category path of a query (key: ``event_id``)."""
    return {"v": SCHEMA_VERSION, "event_id": event_id, "query": query, "path": path, "ts": ts}


def command(
    *, seq: int, cmd: str, args: Mapping[str, Any], issued_by: str, ts: int
) -> dict[str, Any]:
    """A control command (key: ``cmd``); ``seq`` orders commands and records their effect."""
    return {
        "v": SCHEMA_VERSION,
        "seq": seq,
        "cmd": cmd,
        "args": dict(args),
        "issued_by": issued_by,
        "ts": ts,
    }


def is_category_path(path: Any) -> bool:
    """Whether ``path`` is a well-formed, non-root category path.

    >>> is_category_path("electronics/phones/cases"), is_category_path(""), is_category_path("a//b")
    (True, False, False)
    """
    return type(path) is str and _PATH.fullmatch(path) is not None


def dead_letter(
    *, reason: str, topic: str, partition: int, offset: int, ts: int, payload: bytes | None
) -> dict[str, Any]:
    """A rejected input, with why and where it came from; the payload is truncated to 64 KiB."""
    return {
        "v": SCHEMA_VERSION,
        "reason": reason,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "ts": ts,
        "payload": (payload or b"")[:DEAD_LETTER_PAYLOAD_BYTES],
    }


# --------------------------------------------------------------------------- field checks


def _fail(reason: str) -> InvalidEvent:
    return InvalidEvent(reason)


def _field(event: Mapping[str, Any], key: str) -> Any:
    try:
        return event[key]
    except KeyError:
        raise _fail(f"missing field: {key}") from None


def _text(event: Mapping[str, Any], key: str, max_chars: int = MAX_ID_CHARS) -> str:
    value = _field(event, key)
    if type(value) is not str:
        raise _fail(f"wrong type: {key} must be a string")
    if not value:
        raise _fail(f"empty field: {key}")
    if len(value) > max_chars:
        raise _fail(f"too long: {key} over {max_chars} characters")
    return value


def _timestamp(event: Mapping[str, Any], key: str) -> int:
    value = _field(event, key)
    if type(value) is not int:
        raise _fail(f"wrong type: {key} must be integer milliseconds")
    if not MIN_TS_MS <= value <= MAX_TS_MS:
        raise _fail(f"absurd timestamp: {key}={value}")
    return value


def _number(event: Mapping[str, Any], key: str, low: float, high: float) -> float:
    value = _field(event, key)
    if type(value) not in (int, float):
        raise _fail(f"wrong type: {key} must be a number")
    if not math.isfinite(value):
        raise _fail(f"not finite: {key}")
    if not low <= value <= high:
        raise _fail(f"out of range: {key}={value}")
    return value


def _count(event: Mapping[str, Any], key: str, high: int) -> int:
    value = _field(event, key)
    if type(value) is not int:
        raise _fail(f"wrong type: {key} must be an integer")
    if not 0 <= value <= high:
        raise _fail(f"out of range: {key}={value}")
    return value


def _finite_list(values: Any, key: str, length: int) -> None:
    if type(values) is not list or len(values) != length:
        raise _fail(f"wrong shape: {key} must be a list of {length} numbers")
    for value in values:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise _fail(f"not finite: {key}")


def decode_map(data: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """Unpack one msgpack map of schema version 1; the first step of every decoder."""
    if data is None:
        raise _fail("empty payload")
    if len(data) > max_bytes:
        raise _fail(f"oversized: {len(data)} bytes over {max_bytes}")
    try:
        event = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as error:  # msgpack raises several unrelated types on garbage
        raise _fail(f"not msgpack: {type(error).__name__}") from None
    if type(event) is not dict:
        raise _fail("not a map")
    version = event.get("v")
    if type(version) is not int or version != SCHEMA_VERSION:  # True and 1.0 equal 1
        raise _fail(f"unsupported schema version: {repr(version)[:40]}")
    return event


# --------------------------------------------------------------------------- decoders


def _validate_attributes(attributes: Any, field: str, max_keys: int) -> None:
    """A query's ``context`` or a candidate's ``attributes``: a bounded map of short strings
    and finite numbers."""
    if type(attributes) is not dict:
        raise _fail(f"wrong type: {field} must be a map")
    if len(attributes) > max_keys:
        raise _fail(f"too many {field} keys: over {max_keys}")
    for key, value in attributes.items():
        if type(key) is not str or len(key) > MAX_ID_CHARS:
            raise _fail(f"wrong type: {field} keys must be short strings")
        kind = type(value)
        if kind is str:
            if len(value) > MAX_ID_CHARS:
                raise _fail(f"too long: {field}.{key}")
        elif kind is float:
            if not math.isfinite(value):
                raise _fail(f"not finite: {field}.{key}")
        elif kind is not int:
            raise _fail(f"wrong type: {field}.{key} must be a string or number")


def _validate_candidate(ad: Any) -> None:
    if type(ad) is not dict:
        raise _fail("wrong type: candidate must be a map")
    _text(ad, "ad_id")
    _text(ad, "advertiser_id")
    _text(ad, "category", MAX_TEXT_BYTES)
    _number(ad, "bid", 0.0, MAX_BID)
    if "attributes" in ad:
        _validate_attributes(ad["attributes"], "attributes", MAX_CANDIDATE_ATTRIBUTES)


class _Candidate(msgspec.Struct, forbid_unknown_fields=True):
    ad_id: _Id
    advertiser_id: _Id
    category: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_BYTES)]
    bid: (
        Annotated[int, msgspec.Meta(ge=0, le=int(MAX_BID))]
        | Annotated[float, msgspec.Meta(ge=0.0, le=MAX_BID)]
    )
    attributes: (
        Annotated[
            dict[_Id0, _Id0 | int | _Finite], msgspec.Meta(max_length=MAX_CANDIDATE_ATTRIBUTES)
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class _Query(msgspec.Struct, forbid_unknown_fields=True):
    v: Literal[1]  # SCHEMA_VERSION
    event_id: _Id
    ts: Annotated[int, msgspec.Meta(ge=MIN_TS_MS, le=MAX_TS_MS)]
    user_id: _Id
    query: Annotated[str, msgspec.Meta(max_length=MAX_TEXT_BYTES)]
    context: Annotated[dict[_Id0, _Id0 | int | _Finite], msgspec.Meta(max_length=MAX_CONTEXT_KEYS)]
    candidates: Annotated[list[_Candidate], msgspec.Meta(min_length=1, max_length=MAX_CANDIDATES)]


#: The query contract checked in C. What it accepts, :func:`_checked_query` accepts too, as
#: the same dict (a property test holds them to it); what it refuses (extra fields included,
#: which the checked path keeps) is checked again there.
_QUERY = msgspec.msgpack.Decoder(_Query)


def decode_query(data: bytes) -> dict[str, Any]:
    """Decode and validate a query event.

    A query of exactly the contract's fields is decoded and checked in one pass in C
    (msgspec: the serving hot path); any other is checked again field by field, which keeps
    extra fields and finds the reason of a refusal.
    """
    if data is not None and len(data) <= MAX_PAYLOAD_BYTES:
        try:
            event: dict[str, Any] = _to_builtins(_QUERY.decode(data))
        except msgspec.MsgspecError:
            pass
        else:
            if len(event["query"].encode()) <= MAX_TEXT_BYTES:
                return event
    return _checked_query(data)


def _checked_query(data: bytes) -> dict[str, Any]:
    """:func:`decode_query` field by field, raising with the first reason found."""
    event = decode_map(data)
    _text(event, "event_id")
    _timestamp(event, "ts")
    _text(event, "user_id")
    text = _field(event, "query")
    if type(text) is not str:
        raise _fail("wrong type: query must be a string")
    if len(text) > MAX_TEXT_BYTES or len(text.encode()) > MAX_TEXT_BYTES:
        raise _fail(f"too long: query over {MAX_TEXT_BYTES} bytes")
    _validate_attributes(_field(event, "context"), "context", MAX_CONTEXT_KEYS)
    candidates = _field(event, "candidates")
    if type(candidates) is not list:
        raise _fail("wrong type: candidates must be a list")
    if not 1 <= len(candidates) <= MAX_CANDIDATES:
        raise _fail(f"candidates: {len(candidates)} not in 1..{MAX_CANDIDATES}")
    for ad in candidates:
        _validate_candidate(ad)
    return event


def decode_prediction(data: bytes) -> dict[str, Any]:
    """Decode and validate a prediction."""
    event = decode_map(data)
    _text(event, "event_id")
    _timestamp(event, "ts_event")
    _timestamp(event, "ts_scored")
    ad_ids = _field(event, "ad_ids")
    if type(ad_ids) is not list or not all(type(ad) is str for ad in ad_ids):
        raise _fail("wrong type: ad_ids must be a list of strings")
    scores = _field(event, "scores")
    if type(scores) is not dict or not scores:
        raise _fail("wrong type: scores must be a non-empty map")
    for objective, values in scores.items():
        _finite_list(values, f"scores.{str(objective)[:MAX_ID_CHARS]}", len(ad_ids))
    if type(_field(event, "versions")) is not dict:
        raise _fail("wrong type: versions must be a map")
    return event


def decode_ranking(data: bytes) -> dict[str, Any]:
    """Decode and validate a ranking."""
    event = decode_map(data)
    _text(event, "event_id")
    _timestamp(event, "ts_event")
    ad_ids = _field(event, "ad_ids")
    if type(ad_ids) is not list or not all(type(ad) is str for ad in ad_ids):
        raise _fail("wrong type: ad_ids must be a list of strings")
    _finite_list(_field(event, "combined"), "combined", len(ad_ids))
    if type(_field(event, "weights")) is not dict:
        raise _fail("wrong type: weights must be a map")
    _text(event, "arm")
    return event


def decode_impression(data: bytes) -> dict[str, Any]:
    """Decode and validate an impression."""
    event = decode_map(data)
    _text(event, "impression_id")
    _text(event, "event_id")
    _text(event, "ad_id")
    _count(event, "position", MAX_CANDIDATES)
    _timestamp(event, "ts")
    _text(event, "arm")
    if "propensity" in event:
        _number(event, "propensity", 1e-6, 1.0)
    return event


def decode_click(data: bytes) -> dict[str, Any]:
    """Decode and validate a click."""
    event = decode_map(data)
    _text(event, "impression_id")
    _timestamp(event, "ts")
    return event


_INT = frozenset({int})  # exact types: a bool is not a number here
_NUMBER = frozenset({int, float})


def _all_finite(numbers: Collection[float]) -> bool:
    """Whether no number is NaN or infinite: their sum is finite (one C loop), or, when it is
    not, each of them (finite numbers can sum past the largest float)."""
    return math.isfinite(sum(numbers)) or all(map(math.isfinite, numbers))


def decode_example(data: bytes) -> dict[str, Any]:
    """Decode and validate a labelled example; features must be finite numbers."""
    event = decode_map(data)
    _text(event, "example_id", MAX_TEXT_BYTES)
    _text(event, "model")
    features = _field(event, "features")
    if type(features) is not dict or len(features) > MAX_FEATURES:
        raise _fail(f"wrong type: features must be a map of at most {MAX_FEATURES} entries")
    values = features.values()
    if not (
        _INT.issuperset(map(type, features))
        and _NUMBER.issuperset(map(type, values))
        and _all_finite(values)
    ):
        raise _fail("wrong type: features must map integer keys to finite numbers")
    if not is_category_path(event.get("label")):  # a category label, or a click label below
        _number(event, "label", 0.0, 1.0)
    _number(event, "weight", 1e-9, 1e9)
    _number(event, "sampling_rate", 1e-9, 1.0)
    _timestamp(event, "ts_event")
    _timestamp(event, "ts_label")
    if type(_field(event, "source")) is not dict:
        raise _fail("wrong type: source must be a map")
    slices = event.get("slices", {})
    if (
        type(slices) is not dict
        or len(slices) > MAX_SLICES
        or not all(
            type(k) is str and type(v) is str and len(k) <= MAX_ID_CHARS and len(v) <= MAX_ID_CHARS
            for k, v in slices.items()
        )
    ):
        raise _fail(f"wrong type: slices must map at most {MAX_SLICES} short names to strings")
    return event


def decode_dead_letter(data: bytes) -> dict[str, Any]:
    """Decode a dead-letter record (written by us; checked for the fields tools rely on)."""
    event = decode_map(data)
    _text(event, "reason", MAX_TEXT_BYTES)
    _text(event, "topic", MAX_TEXT_BYTES)
    _timestamp(event, "ts")
    return event


def decode_query_label(data: bytes) -> dict[str, Any]:
    """Decode and validate a query's category label."""
    event = decode_map(data)
    _text(event, "event_id")
    text = _field(event, "query")
    if type(text) is not str or len(text.encode()) > MAX_TEXT_BYTES:
        raise _fail(f"wrong type: query must be a string of at most {MAX_TEXT_BYTES} bytes")
    if not is_category_path(_field(event, "path")):
        raise _fail("malformed path: path must look like vertical/category/leaf")
    _timestamp(event, "ts")
    return event


def _validate_weights(args: Mapping[str, Any]) -> None:
    for name in ("alpha", "beta"):
        value = args[name]
        if type(value) not in (int, float) or not math.isfinite(value):
            raise _fail(f"invalid weights: {name} must be a finite number")
        if not 0 <= value <= MAX_WEIGHT:
            raise _fail(f"invalid weights: {name}={value} not in 0..{MAX_WEIGHT:g}")
    if args["alpha"] == 0 and args["beta"] == 0:
        raise _fail("invalid weights: alpha and beta are both 0")


def decode_command(data: bytes) -> dict[str, Any]:
    """Decode and validate a control command's shape: known command, required arguments,
    well-formed paths. Whether the model exists is the control plane's question."""
    event = decode_map(data)
    _count(event, "seq", 2**62)
    cmd = _text(event, "cmd")
    if cmd not in COMMANDS:
        raise _fail(f"unknown command: {cmd[:MAX_ID_CHARS]}")
    args = _field(event, "args")
    if type(args) is not dict:
        raise _fail("wrong type: args must be a map")
    for name in COMMANDS[cmd]:
        if name not in args:
            raise _fail(f"missing argument: {name}")
    if cmd == "set_weights":
        _validate_weights(args)
    elif cmd in ("promote", "rollback"):
        _text(args, "model")
        lowest = -1 if cmd == "promote" else 0
        if type(args["version"]) is not int or not lowest <= args["version"] < 2**62:
            raise _fail("wrong type: version must be an integer (promote: -1 for the newest)")
    else:
        _text(args, "model")
        for name in ("path", "warm_start_from"):
            if name in args and not is_category_path(args[name]):
                raise _fail(f"malformed path: {name} (the root cannot be added or removed)")
    _text(event, "issued_by")
    _timestamp(event, "ts")
    return event


def decode_rating(data: bytes) -> dict[str, Any]:
    """Decode and validate a quality rating of a shown ad."""
    event = decode_map(data)
    _text(event, "impression_id")
    _number(event, "quality", 0.0, 1.0)
    _timestamp(event, "ts")
    return event
