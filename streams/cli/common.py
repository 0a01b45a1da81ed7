"""What the commands share: exit codes, the running system's settings, the issuer of commands,
sending a control command and waiting for its effect, and what a refusing broker said."""

from __future__ import annotations

import asyncio
import sys
import traceback
from getpass import getuser

from learners.errors import AdstreamError
from streams.wire.settings import Settings

__all__ = ["FAILED", "OK", "USAGE", "apply_command", "broker_refusal", "issuer", "running_system"]

OK = 0  # done
FAILED = 1  # the command ran and did not get what it asked for (the reason on stderr)
USAGE = 2  # not run: bad arguments or settings, a command not sent


def running_system(*, snapshots: bool = False) -> Settings | None:
    """Settings of the running system the command talks to (``ADSTREAM_KAFKA`` must be set),
    with the workers' snapshot key if the command reads ``snapshots`` (never a new one)."""
    settings = Settings.from_env()
    if not settings.kafka:
        print("set ADSTREAM_KAFKA to the running system's bootstrap servers", file=sys.stderr)
        return None
    return settings.with_snapshot_key(create=False) if snapshots else settings


def issuer() -> str:
    return f"cli@{getuser()}"


def apply_command(settings: Settings, cmd: str, arguments: dict, timeout_s: float) -> int:
    """Send a control command and wait for its effect; prints the outcome, returns the code."""
    from streams.control.client import send_command, wait_applied
    from streams.wire.contracts import InvalidEvent

    try:
        seq = asyncio.run(send_command(settings, cmd, arguments, issued_by=issuer()))
    except InvalidEvent as error:
        print(f"not sent: {error.reason}", file=sys.stderr)
        return USAGE
    effects = asyncio.run(wait_applied(settings, seq, timeout_s=timeout_s))
    if not effects:
        print(
            f"command {seq} sent; no worker applied it within {timeout_s:g} s "
            "(rejected? see the dead-letter topic)",
            file=sys.stderr,
        )
        return FAILED
    print(f"command {seq} ({cmd} {arguments}) applied by {len(effects)} worker(s)")
    return OK


def broker_refusal(error: BaseException) -> str | None:
    """What a Kafka client said when it gave up on the brokers (None: ``error`` is not that).

    A connection or authentication error of aiokafka or librdkafka (their log lines above it
    say why: a certificate not trusted, a refused login); a retriable timeout of our own Kafka
    I/O (an :class:`~learners.errors.AdstreamError` that is a ``TimeoutError``, raised in
    :mod:`streams.kafka`: the brokers did not answer, with the reasons librdkafka gave); or
    the ``KeyError`` aiokafka raises when a broker ends a SCRAM exchange with an error it does
    not flag as one (Tansu 0.6 answers a login so). Other timeouts, such as no worker
    answering a probe query, are not the brokers' refusal.
    """
    import aiokafka.errors
    import confluent_kafka

    ours = (
        isinstance(error, AdstreamError)
        and isinstance(error, TimeoutError)
        and error.retriable
        and type(error).__module__.startswith("streams.kafka.")
    )
    if ours or isinstance(error, (aiokafka.errors.KafkaError, confluent_kafka.KafkaException)):
        said = str(error)  # aiokafka's starts with its class name, the others' do not
        return said if said.startswith(type(error).__name__) else f"{type(error).__name__}: {said}"
    frames = traceback.extract_tb(error.__traceback__)
    if isinstance(error, KeyError) and frames and frames[-1].name == "process_server_final_message":
        return "the broker refused the SASL/SCRAM login (unknown user or wrong password)"
    return None
