"""Reaching the brokers with a librdkafka client, or saying why not.

A librdkafka client connects lazily and retries for ever. :func:`reached` makes one and waits
until it has the cluster's metadata; after a timeout it raises :class:`BrokerUnreachable` with
what librdkafka reported meanwhile (a refused connection, a certificate not trusted, a refused
login). The client's own log lines go to Python logging (the caller's logger, else this one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import confluent_kafka

from learners.errors import AdstreamError

__all__ = ["BrokerUnreachable", "reached"]

log = logging.getLogger(__name__)

Client = TypeVar("Client")

#: The distinct errors librdkafka reported that :class:`BrokerUnreachable` quotes, at most.
MAX_REASONS = 3


class BrokerUnreachable(AdstreamError, TimeoutError):
    """The brokers did not answer in time: down, another protocol (TLS), or a refused login."""

    retriable = True


def reached(
    make: Callable[[dict[str, Any]], Client], config: dict[str, Any], timeout_s: float
) -> Client:
    """A librdkafka client, ``make(config)``, once it has read the cluster's metadata.

    Parameters
    ----------
    make
        ``confluent_kafka.Producer``, ``Consumer`` or ``admin.AdminClient``.
    config
        Its librdkafka settings (:func:`streams.kafka.rdkafka.client_config` and more); an
        ``error_cb`` is added, and a ``logger`` unless one is given.
    timeout_s
        How long to wait for the brokers.

    Raises
    ------
    BrokerUnreachable
        After ``timeout_s``, with the errors librdkafka reported (it keeps retrying until
        then: a broker that starts meanwhile is reached).
    """
    reasons: list[str] = []

    def on_error(error: confluent_kafka.KafkaError) -> None:
        said = error.str()
        log.debug("librdkafka: %s", said)
        if len(reasons) < MAX_REASONS and said not in reasons:
            reasons.append(said)

    client: Any = make({"logger": log} | config | {"error_cb": on_error})
    try:
        client.list_topics(timeout=timeout_s)
    except confluent_kafka.KafkaException as error:
        client.poll(0)  # serves the error callback and the log lines held for Python
        said = "; ".join(reasons) or error.args[0].str()
        raise BrokerUnreachable(
            f"the brokers at {config.get('bootstrap.servers')} did not answer within "
            f"{timeout_s} s (security.protocol {config.get('security.protocol')}): {said}"
        ) from None
    return client
