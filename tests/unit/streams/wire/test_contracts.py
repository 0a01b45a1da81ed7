"""Event contracts: constructor -> encode -> decoder round trips and strict, explained rejection.

Every decoder must turn any input into either the decoded map or :class:`InvalidEvent` with a
reason that names what is wrong: a bad message becomes a dead-letter record, never an exception
that escapes an agent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import event as event_kind
from hypothesis import strategies as st

from learners.errors import AdstreamError
from streams.wire import contracts
from streams.wire.contracts import InvalidEvent

TS = 1_700_000_000_000
Decoder = Callable[[bytes], dict[str, Any]]


# --------------------------------------------------------------------------- valid events


def make_query(n_candidates: int = 2, text: str = "red running shoes") -> dict[str, Any]:
    return contracts.query(
        event_id="e-1",
        ts=TS,
        user_id="u-1",
        text=text,
        context={"device": "mobile", "region": "fr", "hour": 9, "score": 0.5},
        candidates=[
            contracts.candidate(
                ad_id=f"a-{i}", advertiser_id="acme", category="sports/shoes/running", bid=0.4
            )
            for i in range(n_candidates)
        ],
    )


def make_prediction() -> dict[str, Any]:
    return contracts.prediction(
        event_id="e-1",
        ts_event=TS,
        ts_scored=TS + 3,
        ad_ids=["a-0", "a-1"],
        scores={"engagement": [0.25, 0.75], "quality": [1, 0]},
        versions={"click": 7},
        category={"sports/shoes": 0.9},
    )


def make_ranking() -> dict[str, Any]:
    return contracts.ranking(
        event_id="e-1",
        ts_event=TS,
        ad_ids=["a-1", "a-0"],
        combined=[0.75, 0.25],
        weights={"alpha": 0.0, "beta": 1.0, "version": 3},
        arm="main",
        ts_ranked=1_700_000_000_000,
    )


def make_impression() -> dict[str, Any]:
    return contracts.impression(
        impression_id="i-1", event_id="e-1", ad_id="a-1", position=0, ts=TS + 10, arm="main"
    )


def make_click() -> dict[str, Any]:
    return contracts.click(impression_id="i-1", ts=TS + 500)


def make_example() -> dict[str, Any]:
    return contracts.example(
        example_id="i-1",
        model="click",
        features={3: 1.0, 99: 0.5, 2**19: 1},
        label=1.0,
        weight=1.0,
        sampling_rate=0.25,
        ts_event=TS + 10,
        ts_label=TS + 500,
        source={"adstream.impressions:0": 12, "adstream.clicks:3": 40},
    )


def make_dead_letter() -> dict[str, Any]:
    return contracts.dead_letter(
        reason="not msgpack: ExtraData",
        topic="adstream.clicks",
        partition=2,
        offset=41,
        ts=TS,
        payload=b"\xc1garbage",
    )


# name -> (builder of a valid event, its decoder, fields the decoder must insist on)
KINDS: dict[str, tuple[Callable[[], dict[str, Any]], Decoder, tuple[str, ...]]] = {
    "query": (
        make_query,
        contracts.decode_query,
        ("event_id", "ts", "user_id", "query", "context", "candidates"),
    ),
    "prediction": (
        make_prediction,
        contracts.decode_prediction,
        ("event_id", "ts_event", "ts_scored", "ad_ids", "scores", "versions"),
    ),
    "ranking": (
        make_ranking,
        contracts.decode_ranking,
        ("event_id", "ts_event", "ad_ids", "combined", "weights", "arm"),
    ),
    "impression": (
        make_impression,
        contracts.decode_impression,
        ("impression_id", "event_id", "ad_id", "position", "ts", "arm"),
    ),
    "click": (make_click, contracts.decode_click, ("impression_id", "ts")),
    "example": (
        make_example,
        contracts.decode_example,
        (
            "example_id",
            "model",
            "features",
            "label",
            "weight",
            "sampling_rate",
            "ts_event",
            "ts_label",
            "source",
        ),
    ),
    "dead_letter": (make_dead_letter, contracts.decode_dead_letter, ("reason", "topic", "ts")),
}
DECODERS: list[Decoder] = [decoder for _, decoder, _ in KINDS.values()] + [contracts.decode_map]
TIMESTAMP_FIELDS = {"ts", "ts_event", "ts_scored", "ts_label"}


def reject(decoder: Decoder, data: bytes) -> str:
    """The reason ``decoder`` gives for rejecting ``data`` (fails the test if it accepts it)."""
    with pytest.raises(InvalidEvent) as info:
        decoder(data)
    error = info.value
    assert error.reason == str(error)
    assert error.reason, "a rejection must say why"
    assert_fits_a_dead_letter(error.reason)
    return error.reason


def decodes_or_rejects(decoder: Decoder, data: bytes) -> None:
    """The one acceptable outcome besides success: InvalidEvent (anything else propagates)."""
    try:
        decoder(data)
    except InvalidEvent as error:
        assert isinstance(error.reason, str) and error.reason
        assert_fits_a_dead_letter(error.reason)


def assert_fits_a_dead_letter(reason: str) -> None:
    """The reason is short enough for the dead-letter record that carries it to be valid."""
    record = contracts.dead_letter(
        reason=reason, topic="adstream.queries", partition=0, offset=0, ts=TS, payload=b""
    )
    contracts.decode_dead_letter(contracts.encode(record))


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_constructor_round_trips_through_its_decoder(kind: str) -> None:
    build, decode, _ = KINDS[kind]
    event = build()
    decoded = decode(contracts.encode(event))
    assert decoded == event
    assert decoded["v"] == contracts.SCHEMA_VERSION


def test_example_features_keep_integer_keys_after_the_round_trip() -> None:
    decoded = contracts.decode_example(contracts.encode(make_example()))
    assert decoded["features"] == {3: 1.0, 99: 0.5, 2**19: 1}
    assert all(type(key) is int for key in decoded["features"])


def test_dead_letter_truncates_its_payload_to_64_kib_and_still_decodes() -> None:
    event = contracts.dead_letter(
        reason="oversized", topic="t", partition=0, offset=1, ts=TS, payload=b"x" * (1 << 20)
    )
    assert len(event["payload"]) == 64 * 1024
    assert contracts.decode_dead_letter(contracts.encode(event))["payload"] == event["payload"]
    empty = contracts.dead_letter(reason="r", topic="t", partition=0, offset=1, ts=TS, payload=None)
    assert contracts.decode_dead_letter(contracts.encode(empty))["payload"] == b""


def test_invalid_event_is_a_value_error_of_the_project() -> None:
    with pytest.raises(InvalidEvent) as info:
        contracts.decode_click(b"\xc1")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AdstreamError)


@pytest.mark.parametrize(
    "text",
    ["", "x" * contracts.MAX_TEXT_BYTES, "é" * (contracts.MAX_TEXT_BYTES // 2), "🙂" * 256],
    ids=["empty", "1024-ascii", "1024-bytes-of-2-byte-chars", "1024-bytes-of-4-byte-chars"],
)
def test_query_text_up_to_1_kib_is_accepted(text: str) -> None:
    event = make_query(text=text)
    assert contracts.decode_query(contracts.encode(event))["query"] == text


def test_limits_are_inclusive_for_candidates_and_timestamps() -> None:
    event = make_query(n_candidates=contracts.MAX_CANDIDATES)
    assert len(contracts.decode_query(contracts.encode(event))["candidates"]) == 100
    for ts in (contracts.MIN_TS_MS, contracts.MAX_TS_MS):
        assert contracts.decode_click(contracts.encode(contracts.click(impression_id="i", ts=ts)))


# --------------------------------------------------------------------------- reasons

DELETE = object()


def mutated(event: dict[str, Any], **changes: Any) -> bytes:
    copy = dict(event)
    for key, value in changes.items():
        if value is DELETE:
            del copy[key]
        else:
            copy[key] = value
    return contracts.encode(copy)


def with_candidate(**changes: Any) -> bytes:
    event = make_query()
    ad = dict(event["candidates"][0], **changes)
    event["candidates"] = [{key: value for key, value in ad.items() if value is not DELETE}]
    return contracts.encode(event)


OVERSIZED = dict(make_click(), pad="x" * contracts.MAX_PAYLOAD_BYTES)

REASON_CASES = [
    # (id, decoder, payload, substrings the reason must contain)
    ("not-msgpack", contracts.decode_click, b"\xc1", ["not msgpack"]),
    ("truncated-msgpack", contracts.decode_query, contracts.encode(make_query())[:-3], ["msgpack"]),
    ("not-a-map", contracts.decode_click, msgpack.packb([1, 2]), ["not a map"]),
    ("scalar", contracts.decode_query, msgpack.packb("hello"), ["not a map"]),
    ("schema-2", contracts.decode_click, mutated(make_click(), v=2), ["schema version", "2"]),
    ("schema-missing", contracts.decode_click, mutated(make_click(), v=DELETE), ["schema"]),
    ("schema-str", contracts.decode_click, mutated(make_click(), v="1"), ["schema version"]),
    ("schema-bool", contracts.decode_click, mutated(make_click(), v=True), ["schema version"]),
    ("schema-float", contracts.decode_click, mutated(make_click(), v=1.0), ["schema version"]),
    ("missing", contracts.decode_query, mutated(make_query(), ts=DELETE), ["missing", "ts"]),
    (
        "missing-nested",
        contracts.decode_query,
        with_candidate(advertiser_id=DELETE),
        ["missing", "advertiser_id"],
    ),
    ("wrong-type-ts", contracts.decode_click, mutated(make_click(), ts="now"), ["type", "ts"]),
    ("float-ts", contracts.decode_click, mutated(make_click(), ts=float(TS)), ["type", "ts"]),
    (
        "wrong-type-id",
        contracts.decode_impression,
        mutated(make_impression(), ad_id=7),
        ["type", "ad_id"],
    ),
    ("bytes-id", contracts.decode_click, mutated(make_click(), impression_id=b"i"), ["type"]),
    ("empty-id", contracts.decode_click, mutated(make_click(), impression_id=""), ["empty"]),
    ("nan-bid", contracts.decode_query, with_candidate(bid=math.nan), ["finite", "bid"]),
    ("inf-label", contracts.decode_example, mutated(make_example(), label=math.inf), ["label"]),
    (
        "nan-score",
        contracts.decode_prediction,
        mutated(make_prediction(), scores={"engagement": [0.1, math.nan]}),
        ["finite", "scores.engagement"],
    ),
    (
        "inf-combined",
        contracts.decode_ranking,
        mutated(make_ranking(), combined=[math.inf, 0.1]),
        ["finite", "combined"],
    ),
    (
        "nan-feature",
        contracts.decode_example,
        mutated(make_example(), features={1: math.nan}),
        ["features"],
    ),
    (
        "nan-context",
        contracts.decode_query,
        mutated(make_query(), context={"score": -math.inf}),
        ["finite", "context.score"],
    ),
    ("negative-ts", contracts.decode_click, mutated(make_click(), ts=-1), ["timestamp", "ts=-1"]),
    (
        "seconds-not-ms",
        contracts.decode_query,
        mutated(make_query(), ts=TS // 1000),
        ["absurd timestamp", f"ts={TS // 1000}"],
    ),
    (
        "microseconds",
        contracts.decode_example,
        mutated(make_example(), ts_label=TS * 1000),
        ["timestamp", "ts_label"],
    ),
    ("101-candidates", contracts.decode_query, contracts.encode(make_query(101)), ["101"]),
    ("0-candidates", contracts.decode_query, contracts.encode(make_query(0)), ["candidates", "0"]),
    (
        "text-over-1-kib",
        contracts.decode_query,
        contracts.encode(make_query(text="x" * 1025)),
        ["query", "1024"],
    ),
    (
        "multibyte-text-over-1-kib",
        contracts.decode_query,
        contracts.encode(make_query(text="é" * 513)),  # 513 chars, 1026 bytes
        ["query", "1024"],
    ),
    ("oversized", contracts.decode_click, contracts.encode(OVERSIZED), ["oversized"]),
    ("bid-negative", contracts.decode_query, with_candidate(bid=-0.01), ["range", "bid"]),
    ("bid-absurd", contracts.decode_query, with_candidate(bid=1e7), ["range", "bid"]),
    (
        "position-out-of-range",
        contracts.decode_impression,
        mutated(make_impression(), position=101),
        ["position"],
    ),
    (
        "scores-length",
        contracts.decode_prediction,
        mutated(make_prediction(), scores={"engagement": [0.5]}),
        ["scores.engagement", "2"],
    ),
    (
        "scores-empty",
        contracts.decode_prediction,
        mutated(make_prediction(), scores={}),
        ["scores"],
    ),
    (
        "sampling-rate-zero",
        contracts.decode_example,
        mutated(make_example(), sampling_rate=0.0),
        ["sampling_rate"],
    ),
    (
        "id-too-long",
        contracts.decode_click,
        mutated(make_click(), impression_id="i" * 129),
        ["too long", "impression_id"],
    ),
    (
        "context-not-map",
        contracts.decode_query,
        mutated(make_query(), context=["mobile"]),
        ["context"],
    ),
    (
        "context-nested",
        contracts.decode_query,
        mutated(make_query(), context={"device": {"os": "x"}}),
        ["context.device"],
    ),
    (
        "too-many-context-keys",
        contracts.decode_query,
        mutated(make_query(), context={f"k{i}": i for i in range(33)}),
        ["context"],
    ),
    (
        "candidate-attributes-not-map",
        contracts.decode_query,
        with_candidate(attributes=["video"]),
        ["attributes"],
    ),
    (
        "candidate-attribute-nan",
        contracts.decode_query,
        with_candidate(attributes={"landing_page_score": math.nan}),
        ["finite", "attributes.landing_page_score"],
    ),
    (
        "too-many-candidate-attributes",
        contracts.decode_query,
        with_candidate(attributes={f"k{i}": i for i in range(17)}),
        ["attributes"],
    ),
    (
        "long-version",
        contracts.decode_click,
        mutated(make_click(), v="9" * 5000),
        ["schema version"],
    ),
    (
        "long-objective",
        contracts.decode_prediction,
        mutated(make_prediction(), scores={"o" * 5000: [0.5, math.nan]}),
        ["finite", "scores.ooo"],
    ),
    (
        "candidate-not-map",
        contracts.decode_query,
        mutated(make_query(), candidates=["a"]),
        ["cand"],
    ),
]


@pytest.mark.parametrize(
    ("decoder", "payload", "expected"),
    [case[1:] for case in REASON_CASES],
    ids=[case[0] for case in REASON_CASES],
)
def test_rejections_name_what_is_wrong(
    decoder: Decoder, payload: bytes, expected: list[str]
) -> None:
    reason = reject(decoder, payload)
    for part in expected:
        assert part in reason, f"{reason!r} should mention {part!r}"
    assert len(reason) < 200, "reasons are short: they travel in every dead-letter record"


def test_oversized_payload_is_rejected_by_every_decoder_before_unpacking() -> None:
    for build, decode, _ in KINDS.values():
        payload = contracts.encode(dict(build(), pad=b"\0" * contracts.MAX_PAYLOAD_BYTES))
        assert "oversized" in reject(decode, payload)


def test_decode_map_enforces_its_size_argument_and_none() -> None:
    assert "oversized" in reject(lambda data: contracts.decode_map(data, max_bytes=8), b"x" * 9)
    assert reject(contracts.decode_map, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_required_field_is_named_when_missing(kind: str) -> None:
    build, decode, required = KINDS[kind]
    for field in (*required, "v"):
        event = build()
        del event[field]
        reason = reject(decode, contracts.encode(event))
        assert field in reason, f"{kind}: {reason!r} should name {field!r}"


# --------------------------------------------------------------------------- hypothesis

FINITE = st.floats(allow_nan=False, allow_infinity=False)
INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # everything msgpack can carry
TEXT = st.text(st.characters(codec="utf-8"), max_size=20) | st.text(max_size=2000)
SCALARS = st.none() | st.booleans() | INT64 | st.floats() | TEXT | st.binary(max_size=20)
KEYS = st.none() | st.booleans() | INT64 | st.floats(allow_nan=False) | TEXT | st.binary(max_size=8)
STRUCTURES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=20,
)
FIELD_NAMES = sorted(
    {field for _, _, fields in KINDS.values() for field in fields}
    | {"candidates", "context", "ad_id", "advertiser_id", "category", "bid"}
)
# Maps that pass the version check with known field names: they reach the field validators.
VERSIONED = st.fixed_dictionaries(
    {"v": st.just(contracts.SCHEMA_VERSION)},
    optional={name: STRUCTURES for name in FIELD_NAMES},
)


@given(data=st.binary(max_size=512))
def test_decoders_turn_arbitrary_bytes_into_events_or_invalid_event(data: bytes) -> None:
    for decoder in DECODERS:
        decodes_or_rejects(decoder, data)


@given(value=STRUCTURES | VERSIONED)
def test_decoders_turn_arbitrary_msgpack_into_events_or_invalid_event(value: Any) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    for decoder in DECODERS:
        decodes_or_rejects(decoder, data)


# One mutation of one field of a valid event: deleted, or replaced by an arbitrary value.
MUTATION_VALUES = (
    STRUCTURES
    | st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 2**64 - 1, -(2**63), True, ""])
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
)


@given(kind=st.sampled_from(sorted(KINDS)), data=st.data())
def test_decoders_survive_any_single_field_mutation(kind: str, data: st.DataObject) -> None:
    build, decode, _ = KINDS[kind]
    event = build()
    target = event
    if kind == "query" and data.draw(st.booleans(), label="nested"):
        target = data.draw(st.sampled_from([event["context"], event["candidates"][0]]))
    field = data.draw(st.sampled_from(sorted(target)), label="field")
    if data.draw(st.booleans(), label="delete"):
        del target[field]
    else:
        target[field] = data.draw(MUTATION_VALUES, label="value")
    decodes_or_rejects(decode, contracts.encode(event))


def wrong_type_for(value: Any) -> st.SearchStrategy[Any]:
    """Values of a type the field's decoder must refuse (ints are fine where floats are)."""
    if type(value) is str:
        return st.none() | st.booleans() | INT64 | FINITE | st.binary() | st.lists(TEXT)
    if type(value) is int:
        return st.none() | st.booleans() | FINITE | TEXT | st.binary() | st.lists(INT64)
    if type(value) is float:
        return st.none() | st.booleans() | TEXT | st.binary() | st.lists(FINITE)
    if type(value) is dict:
        return st.none() | INT64 | TEXT | st.lists(TEXT)
    assert type(value) is list
    return st.none() | INT64 | TEXT | st.dictionaries(TEXT, TEXT)


@given(kind=st.sampled_from(sorted(KINDS)), data=st.data())
def test_required_field_of_a_wrong_type_is_rejected_and_named(
    kind: str, data: st.DataObject
) -> None:
    build, decode, required = KINDS[kind]
    event = build()
    field = data.draw(st.sampled_from([*required, "v"]), label="field")
    event[field] = data.draw(wrong_type_for(event[field]), label="value")
    reason = reject(decode, contracts.encode(event))
    assert (field if field != "v" else "schema version") in reason


@given(
    field=st.sampled_from(["bid", "label", "weight", "sampling_rate", "score", "combined"]),
    value=st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_non_finite_numbers_are_rejected_and_named(field: str, value: float) -> None:
    if field == "bid":
        decoder, payload = contracts.decode_query, with_candidate(bid=value)
    elif field == "score":
        decoder = contracts.decode_query
        payload = mutated(make_query(), context={"score": value})
    elif field == "combined":
        decoder = contracts.decode_ranking
        payload = mutated(make_ranking(), combined=[0.5, value])
    else:
        decoder, payload = contracts.decode_example, mutated(make_example(), **{field: value})
    assert field in reject(decoder, payload)


BAD_TIMESTAMPS = st.integers(min_value=-(2**63), max_value=contracts.MIN_TS_MS - 1) | st.integers(
    min_value=contracts.MAX_TS_MS + 1, max_value=2**64 - 1
)


@given(kind=st.sampled_from(sorted(KINDS)), ts=BAD_TIMESTAMPS, data=st.data())
def test_absurd_timestamps_are_rejected_and_named(kind: str, ts: int, data: st.DataObject) -> None:
    build, decode, required = KINDS[kind]
    field = data.draw(st.sampled_from(sorted(TIMESTAMP_FIELDS & set(required))))
    reason = reject(decode, mutated(build(), **{field: ts}))
    assert "timestamp" in reason and f"{field}={ts}" in reason


@given(n=st.integers(min_value=contracts.MAX_CANDIDATES + 1, max_value=150))
@settings(max_examples=10)
def test_more_than_100_candidates_are_rejected(n: int) -> None:
    assert str(n) in reject(contracts.decode_query, contracts.encode(make_query(n)))


@given(
    text=st.text(st.characters(codec="utf-8"), max_size=contracts.MAX_TEXT_BYTES + 200).filter(
        lambda text: len(text.encode()) > contracts.MAX_TEXT_BYTES
    )
    | st.text(st.characters(min_codepoint=0x800, codec="utf-8"), min_size=342, max_size=1024)
)
@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
def test_query_text_over_1_kib_of_utf8_is_rejected_even_under_1024_chars(text: str) -> None:
    assert len(text.encode()) > contracts.MAX_TEXT_BYTES
    assert "query" in reject(contracts.decode_query, contracts.encode(make_query(text=text)))


@given(pad=st.integers(min_value=0, max_value=4096), kind=st.sampled_from(sorted(KINDS)))
@settings(max_examples=10)
def test_payloads_over_1_mib_are_rejected(pad: int, kind: str) -> None:
    build, decode, _ = KINDS[kind]
    payload = contracts.encode(dict(build(), pad=b"\0" * (contracts.MAX_PAYLOAD_BYTES + pad)))
    assert "oversized" in reject(decode, payload)


# --------------------------------------------------------------------------- valid queries

IDS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=contracts.MAX_ID_CHARS)
CONTEXT_VALUES = (
    st.text(st.characters(codec="utf-8"), max_size=contracts.MAX_ID_CHARS)
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | FINITE
)
CANDIDATES = st.builds(
    contracts.candidate,
    ad_id=IDS,
    advertiser_id=IDS,
    category=st.text(st.characters(codec="utf-8"), min_size=1, max_size=64),
    bid=st.floats(min_value=0.0, max_value=contracts.MAX_BID) | st.integers(0, 10**6),
    attributes=st.none()
    | st.dictionaries(
        st.text(max_size=contracts.MAX_ID_CHARS),
        CONTEXT_VALUES,
        max_size=contracts.MAX_CANDIDATE_ATTRIBUTES,
    ),
)
QUERIES = st.builds(
    contracts.query,
    event_id=IDS,
    ts=st.integers(min_value=contracts.MIN_TS_MS, max_value=contracts.MAX_TS_MS),
    user_id=IDS,
    text=st.text(st.characters(codec="utf-8"), max_size=contracts.MAX_TEXT_BYTES // 4)
    | st.text(st.characters(max_codepoint=0x7F), max_size=contracts.MAX_TEXT_BYTES),
    context=st.dictionaries(
        st.text(max_size=contracts.MAX_ID_CHARS),
        CONTEXT_VALUES,
        max_size=contracts.MAX_CONTEXT_KEYS,
    ),
    candidates=st.lists(CANDIDATES, min_size=1, max_size=12),
)


@given(event=QUERIES)
def test_every_valid_query_decodes_to_an_equal_dict(event: dict[str, Any]) -> None:
    assert contracts.decode_query(contracts.encode(event)) == event


@given(
    event=QUERIES, extra=st.dictionaries(st.text(min_size=1), st.none() | INT64 | TEXT, max_size=3)
)
def test_unknown_extra_fields_do_not_break_decoding(
    event: dict[str, Any], extra: dict[str, Any]
) -> None:
    assume(not set(extra) & set(event))
    assert contracts.decode_query(contracts.encode({**event, **extra})) == {**event, **extra}


# --------------------------------------------------------------------------- the fast query path


def _near(valid: st.SearchStrategy, *invalid: Any) -> st.SearchStrategy:
    """Mostly ``valid`` values (nine in ten), else one of ``invalid`` or the field deleted."""
    wrong = st.sampled_from([DELETE, *invalid])
    return st.sampled_from(range(10)).flatmap(lambda i: wrong if i == 9 else valid)


def _ids(limit: int) -> st.SearchStrategy:
    """Valid text up to ``limit`` characters, the longest ones included."""
    return IDS | st.sampled_from(["x" * limit, "é" * limit])


_NEAR_CANDIDATES = st.fixed_dictionaries(
    {
        "ad_id": _near(_ids(contracts.MAX_ID_CHARS), "", "x" * 129, 7, None, b"a"),
        "advertiser_id": _near(IDS, "", True),
        "category": _near(st.sampled_from(["a/b", "sports", "é" * 1024]), "", "x" * 1025, 1.5),
        "bid": _near(
            st.floats(0.0, contracts.MAX_BID) | st.integers(0, 10**6),
            math.nan,
            math.inf,
            -0.01,
            1e7,
            10**6 + 1,
            True,
            "0.4",
            2**64 - 1,
        ),
    },
    optional={
        "extra": INT64,
        "attributes": _near(
            st.dictionaries(
                _ids(contracts.MAX_ID_CHARS),
                CONTEXT_VALUES,
                max_size=contracts.MAX_CANDIDATE_ATTRIBUTES,
            ),
            [],
            {"k": math.nan},
            {"k": None},
            {"k": "x" * 129},
            {str(i): i for i in range(contracts.MAX_CANDIDATE_ATTRIBUTES + 1)},
        ),
    },
)
_NEAR_QUERIES = st.fixed_dictionaries(
    {
        "v": _near(st.just(1), 2, True, 1.0, "1"),
        "event_id": _near(_ids(contracts.MAX_ID_CHARS), "", "x" * 129, 0),
        "ts": _near(
            st.sampled_from([contracts.MIN_TS_MS, TS, contracts.MAX_TS_MS]),
            contracts.MIN_TS_MS - 1,
            contracts.MAX_TS_MS + 1,
            float(TS),
            True,
        ),
        "user_id": _near(IDS, ""),
        "query": _near(
            st.text(max_size=20) | st.sampled_from(["x" * 1024, "é" * 512]),
            "é" * 513,
            "x" * 1025,
            None,
            ["red"],
        ),
        "context": _near(
            st.dictionaries(
                _ids(contracts.MAX_ID_CHARS) | st.just(""),
                CONTEXT_VALUES | st.sampled_from(["x" * 128]),
                max_size=contracts.MAX_CONTEXT_KEYS,
            ),
            [],
            {1: "int key"},
            {"k": math.nan},
            {"k": -math.inf},
            {"k": True},
            {"k": None},
            {"k": "x" * 129},
            {"x" * 129: 1},
            {str(i): i for i in range(contracts.MAX_CONTEXT_KEYS + 1)},
        ),
        "candidates": _near(
            st.lists(_NEAR_CANDIDATES, min_size=1, max_size=4),
            [],
            [None],
            [make_query()["candidates"][0]] * (contracts.MAX_CANDIDATES + 1),
        ),
    },
    optional={"extra": INT64 | st.text(max_size=4)},
)


def _without_deleted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_deleted(v) for k, v in value.items() if v is not DELETE}
    if isinstance(value, list):
        return [_without_deleted(v) for v in value]
    return value


def _outcome(decode: Decoder, data: bytes) -> tuple[str, Any]:
    try:
        return "decoded", decode(data)
    except InvalidEvent as error:
        return "refused", error.reason


@given(event=_NEAR_QUERIES)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_the_fast_query_path_decides_as_the_field_by_field_checks(event: dict[str, Any]) -> None:
    """decode_query checks in C first; it must accept exactly what the checks accept, as the
    same dict, with the same types (a bid stays an int)."""
    data = contracts.encode(_without_deleted(event))
    fast, checked = _outcome(contracts.decode_query, data), _outcome(contracts._checked_query, data)
    event_kind(fast[0])
    assert fast == checked
    if fast[0] == "decoded":
        bids = [type(ad["bid"]) for ad in fast[1]["candidates"]]
        assert bids == [type(ad["bid"]) for ad in checked[1]["candidates"]]


def _query_with(**changes: Any) -> bytes:
    return mutated(make_query(), **changes)


@pytest.mark.parametrize(
    "payload",
    [
        with_candidate(bid=10**6 + 1),
        with_candidate(bid=contracts.MAX_BID * (1 + 1e-15)),
        with_candidate(bid=-1),
        with_candidate(ad_id="x" * (contracts.MAX_ID_CHARS + 1)),
        with_candidate(category="x" * (contracts.MAX_TEXT_BYTES + 1)),
        _query_with(ts=contracts.MIN_TS_MS - 1),
        _query_with(ts=contracts.MAX_TS_MS + 1),
        _query_with(user_id="é" * (contracts.MAX_ID_CHARS + 1)),
        _query_with(context={str(i): i for i in range(contracts.MAX_CONTEXT_KEYS + 1)}),
        _query_with(context={"x" * (contracts.MAX_ID_CHARS + 1): 1}),
        _query_with(context={"k": "x" * (contracts.MAX_ID_CHARS + 1)}),
        contracts.encode(make_query(text="é" * (contracts.MAX_TEXT_BYTES // 2 + 1))),
    ],
)
def test_the_fast_query_path_refuses_just_past_every_limit(payload: bytes) -> None:
    assert _outcome(contracts.decode_query, payload)[0] == "refused"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_encode_writes_the_bytes_msgpack_writes(kind: str) -> None:
    build, _, _ = KINDS[kind]
    event = build()
    assert contracts.encode(event) == msgpack.packb(event, use_bin_type=True)


@given(event=QUERIES)
def test_encode_writes_the_bytes_msgpack_writes_for_any_query(event: dict[str, Any]) -> None:
    assert contracts.encode(event) == msgpack.packb(event, use_bin_type=True)
