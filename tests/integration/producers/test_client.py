"""EventClient against the embedded broker: keys, contents, and validation at the caller."""

import pytest

from producers import EventClient, InvalidEvent, World
from streams.wire import contracts
from streams.wire.settings import Settings

pytestmark = pytest.mark.broker

TS_MS = 1_700_000_000_000


def test_events_arrive_keyed_and_decodable(settings, reader):
    event, truth = World(seed=5).next_query(ts_ms=TS_MS)
    with EventClient(settings) as client:
        client.send_query(event)
        client.send_impression(
            impression_id="imp-1", event_id=truth.event_id, ad_id=truth.candidates[0], arm="a"
        )
        client.send_click("imp-1", ts=TS_MS + 4_000)
        client.flush(timeout_s=10)

    (query,) = reader.read("queries", lambda records: len(records) >= 1)
    assert query.key() == truth.user_id.encode()
    assert contracts.decode_query(query.value()) == event

    (impression,) = reader.read("impressions", lambda records: len(records) >= 1)
    assert impression.key() == b"imp-1"
    shown = contracts.decode_impression(impression.value())
    assert (shown["event_id"], shown["ad_id"], shown["position"]) == (
        truth.event_id,
        truth.candidates[0],
        0,
    )

    (click,) = reader.read("clicks", lambda records: len(records) >= 1)
    assert click.key() == b"imp-1"
    assert contracts.decode_click(click.value()) == contracts.click(
        impression_id="imp-1", ts=TS_MS + 4_000
    )


def test_a_bad_event_raises_at_the_caller(settings):
    event, _ = World(seed=5).next_query(ts_ms=TS_MS)
    with EventClient(settings) as client:
        with pytest.raises(InvalidEvent, match="candidates"):
            client.send_query({**event, "candidates": []})
        with pytest.raises(InvalidEvent, match="not encodable"):
            client.send_query({**event, "context": {"device": object()}})
        with pytest.raises(InvalidEvent, match="absurd timestamp"):
            client.send_click("imp-2", ts=17)
        with pytest.raises(InvalidEvent, match="empty field"):
            client.send_impression(impression_id="", event_id="q", ad_id="ad", arm="a")


def test_client_needs_a_broker_address():
    with pytest.raises(ValueError, match="kafka"):
        EventClient(Settings())


def test_query_labels_arrive_keyed_by_event_id_and_bad_ones_raise(settings, reader):
    event, truth = World(seed=5).next_query(ts_ms=TS_MS)
    with EventClient(settings) as client:
        client.send_query_label(truth.event_id, event["query"], truth.leaf, ts=TS_MS + 2_000)
        with pytest.raises(InvalidEvent, match="malformed path"):
            client.send_query_label(truth.event_id, event["query"], "Travel//x")
        with pytest.raises(InvalidEvent, match="empty field"):
            client.send_query_label("", event["query"], truth.leaf)
        client.flush(timeout_s=10)

    (label,) = reader.read("query-labels", lambda records: len(records) >= 1)
    assert label.key() == truth.event_id.encode()
    assert contracts.decode_query_label(label.value()) == contracts.query_label(
        event_id=truth.event_id, query=event["query"], path=truth.leaf, ts=TS_MS + 2_000
    )


def test_ratings_and_propensities_arrive_and_bad_ratings_raise(settings, reader):
    with EventClient(settings) as client:
        client.send_impression(
            impression_id="imp-9", event_id="q-9", ad_id="ad-3", arm="explore", propensity=0.02
        )
        client.send_rating("imp-9", 0.75, ts=TS_MS + 5_000)
        with pytest.raises(InvalidEvent, match="out of range: quality"):
            client.send_rating("imp-9", 1.5)
        with pytest.raises(InvalidEvent, match="empty field"):
            client.send_rating("", 0.5)
        with pytest.raises(InvalidEvent, match="out of range: propensity"):
            client.send_impression(
                impression_id="imp-9", event_id="q-9", ad_id="ad-3", arm="explore", propensity=0
            )
        client.flush(timeout_s=10)

    (impression,) = reader.read("impressions", lambda records: len(records) >= 1)
    assert contracts.decode_impression(impression.value())["propensity"] == 0.02
    (rating,) = reader.read("ratings", lambda records: len(records) >= 1)
    assert rating.key() == b"imp-9"
    assert contracts.decode_rating(rating.value()) == contracts.rating(
        impression_id="imp-9", quality=0.75, ts=TS_MS + 5_000
    )
