"""Reaching the brokers with a librdkafka client: a port nobody listens on is refused within
the timeout, and the error says why (no broker needed)."""

from __future__ import annotations

import time

import confluent_kafka
import pytest

from learners.errors import AdstreamError
from streams.kafka.bootstrap import BrokerUnreachable, reached
from streams.kafka.broker import free_port


def test_a_closed_port_is_unreachable_within_the_timeout_and_the_error_says_why() -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as refused:
        reached(confluent_kafka.Producer, {"bootstrap.servers": address}, timeout_s=0.5)
    took_s = time.monotonic() - started

    assert 0.5 <= took_s < 5
    said = str(refused.value)
    assert f"the brokers at {address} did not answer within 0.5 s" in said
    assert "Connection refused" in said  # librdkafka's own reason, not just "timed out"
    error = refused.value
    assert isinstance(error, AdstreamError) and isinstance(error, TimeoutError)
    assert error.retriable
