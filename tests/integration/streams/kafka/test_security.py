"""TLS and SASL for real: the embedded broker secured, and every client configured by settings.

Two brokers of this module's own, started once: one that speaks TLS only (Tansu behind
streams.kafka.tls_terminator: Tansu 0.6 cannot serve TLS itself) and one that also requires SASL
(``--authentication``). On the first, a worker (Faust's aiokafka and the librdkafka loops),
the sync client (librdkafka), the CLI (aiokafka) and the demo work with ``SSL`` and a CA
file. Tansu 0.6 lets no client log in (its memory store keeps no SCRAM user), so SASL is
tested by what it refuses; docs/operations.md, "Security: TLS and SASL". The secrets are
fresh per run, so finding one anywhere is a leak.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from producers import EventClient, World
from producers.demo.options import DemoOptions
from producers.demo.run import run_demo
from streams.cli import main
from streams.kafka.bootstrap import BrokerUnreachable
from streams.kafka.broker import EmbeddedBroker, create_topics, tansu_binary
from streams.kafka.readers import read_topic
from streams.operations.process import WorkerProcess
from streams.operations.watch import wait_until_serving
from streams.wire import contracts
from streams.wire.settings import Settings
from streams.wire.topics import topic_specs

pytestmark = pytest.mark.broker

SASL_PASSWORD = f"sasl-{uuid.uuid4().hex}"
SNAPSHOT_KEY = f"snap-{uuid.uuid4().hex}"
SECRETS = (SASL_PASSWORD, SNAPSHOT_KEY)


@dataclasses.dataclass(frozen=True)
class Certificates:
    ca: Path  # the authority the clients are told to trust
    cert: Path  # the broker's, for 127.0.0.1 and localhost, signed by ``ca``
    key: Path
    other_ca: Path  # an authority that signed nothing the broker shows


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA and a broker certificate it signs, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    key_options = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for name in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", *key_options, "-days", "2", "-subj", f"/CN=adstream test {name}",
            "-keyout", folder / f"{name}.key", "-out", folder / f"{name}.pem",
        )  # fmt: skip
    _openssl(
        "req", *key_options, "-subj", "/CN=localhost",
        "-keyout", folder / "broker.key", "-out", folder / "broker.csr",
    )  # fmt: skip
    (folder / "broker.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", folder / "broker.csr", "-days", "2", "-set_serial", "1",
        "-CA", folder / "ca.pem", "-CAkey", folder / "ca.key",
        "-extfile", folder / "broker.ext", "-out", folder / "broker.pem",
    )  # fmt: skip
    return Certificates(
        ca=folder / "ca.pem",
        cert=folder / "broker.pem",
        key=folder / "broker.key",
        other_ca=folder / "other-ca.pem",
    )


def _started(broker: EmbeddedBroker) -> Iterator[EmbeddedBroker]:
    broker.start()
    yield broker
    broker.stop()
    leftovers = subprocess.run(
        ["pgrep", "-af", f"tansu.*:{broker.port}|tls_terminator --port={broker.port}"],
        capture_output=True,
        text=True,
    ).stdout
    assert not leftovers.strip(), f"broker processes left running: {leftovers}"


@pytest.fixture(scope="module")
def tls_broker(
    certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedBroker]:
    """A broker that speaks TLS only."""
    log_path = tmp_path_factory.mktemp("tls-broker") / "broker.log"
    yield from _started(
        EmbeddedBroker(log_path=log_path, tls_cert=certificates.cert, tls_key=certificates.key)
    )


@pytest.fixture(scope="module")
def sasl_broker(
    certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedBroker]:
    """A broker that speaks TLS only and requires every client to log in (SASL_SSL)."""
    log_path = tmp_path_factory.mktemp("sasl-broker") / "broker.log"
    yield from _started(
        EmbeddedBroker(
            log_path=log_path,
            tls_cert=certificates.cert,
            tls_key=certificates.key,
            authentication=True,
        )
    )


def _system(broker: EmbeddedBroker, state_dir: Path, **security: Any) -> Settings:
    """Settings of a system of its own on ``broker``, with both secrets set."""
    run = uuid.uuid4().hex[:10]
    return Settings(
        kafka=broker.bootstrap,
        topic_prefix=f"s{run}.",
        app_id=f"adstream-{run}",
        partitions=2,
        attribution_window_s=2.0,
        join_grace_s=0.5,
        metrics_interval_s=0.5,
        metrics_port=0,
        serve_deadline_ms=0,
        state_dir=str(state_dir),
        sasl_password=SASL_PASSWORD,
        snapshot_key=SNAPSHOT_KEY,
        **security,
    )


@dataclasses.dataclass(frozen=True)
class System:
    settings: Settings
    worker: WorkerProcess
    log_path: Path


@pytest.fixture(scope="module")
def system(
    tls_broker: EmbeddedBroker,
    certificates: Certificates,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[System]:
    """A worker serving on the TLS broker (topics created with librdkafka over TLS)."""
    folder = tmp_path_factory.mktemp("tls-system")
    settings = _system(tls_broker, folder, security_protocol="SSL", ssl_cafile=str(certificates.ca))
    create_topics(settings.kafka, list(topic_specs(settings).values()), settings)
    worker = WorkerProcess(settings, log_path=folder / "worker.log", loglevel="INFO").start()
    try:
        asyncio.run(wait_until_serving(settings, timeout_s=60))
        yield System(settings, worker, folder / "worker.log")
    finally:
        worker.stop()
    assert not worker.alive(), "worker left running"


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The CLI's environment: these settings as ``ADSTREAM_*`` variables."""
    for name, value in settings.env().items():
        monkeypatch.setenv(name, value)


def _leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def _prediction(settings: Settings, event_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in asyncio.run(read_topic(settings, "predictions")):
            if record.key == event_id.encode():
                return contracts.decode_prediction(record.value)
    raise AssertionError(f"no prediction for {event_id} within {timeout_s} s")


def test_a_worker_serves_a_query_the_sync_client_sends_over_tls(system: System) -> None:
    event, truth = World(seed=11).next_query(ts_ms=int(time.time() * 1000))
    with EventClient(system.settings) as client:
        client.send_query(event).get(timeout=10)

    prediction = _prediction(system.settings, truth.event_id)
    assert len(prediction["scores"]["engagement"]) == len(event["candidates"])


def test_the_cli_sets_and_shows_weights_over_tls(
    system: System, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, system.settings)
    assert main(["weights", "set", "--alpha", "0.25", "--beta", "0.75"]) == 0
    assert main(["weights", "show"]) == 0
    out, err = capsys.readouterr()
    assert "alpha=0.25 beta=0.75" in out.splitlines()[-1]
    assert not _leaked(out + err)


def test_no_secret_in_the_settings_repr_the_worker_log_or_its_command_line(
    system: System,
) -> None:
    assert system.settings.sasl_password == SASL_PASSWORD  # set, and used by the worker
    assert not _leaked(repr(system.settings)) and not _leaked(str(system.settings))
    assert system.worker.alive()
    command_line = subprocess.run(
        ["ps", "-o", "args=", "-p", str(system.worker.pid)], capture_output=True, text=True
    ).stdout
    assert "streams.cli worker" in command_line
    assert not _leaked(command_line)
    log = system.log_path.read_text()
    assert "Discovered coordinator" in log  # at INFO: the clients' connections, groups...
    assert not _leaked(log)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("plaintext client, TLS broker", "Connection at 127.0.0.1"),
        ("CA not trusted", "CERTIFICATE_VERIFY_FAILED"),
        ("no login, SASL broker", "Connection at 127.0.0.1"),
        ("login refused, SASL broker", "refused the SASL/SCRAM login"),
    ],
)
def test_the_cli_is_refused_and_says_so(
    case: str,
    reason: str,
    tls_broker: EmbeddedBroker,
    sasl_broker: EmbeddedBroker,
    certificates: Certificates,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = _refused(case, tls_broker, sasl_broker, certificates, tmp_path)
    _env(monkeypatch, settings)
    started = time.monotonic()
    code = main(["weights", "show"])
    took_s = time.monotonic() - started
    _, err = capsys.readouterr()
    assert code == 1
    assert took_s < 15
    assert f"the brokers at {settings.kafka} refused or did not answer" in err
    assert reason in err + caplog.text  # the client's own log line says why
    assert not _leaked(err + caplog.text)


def _refused(
    case: str,
    tls_broker: EmbeddedBroker,
    sasl_broker: EmbeddedBroker,
    certificates: Certificates,
    state_dir: Path,
) -> Settings:
    """Settings a secured broker refuses, as ``case`` says."""
    ca = str(certificates.ca)
    login = {"sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "svc-adstream"}
    return {
        "plaintext client, TLS broker": lambda: _system(tls_broker, state_dir),
        "CA not trusted": lambda: _system(
            tls_broker, state_dir, security_protocol="SSL", ssl_cafile=str(certificates.other_ca)
        ),
        "no login, SASL broker": lambda: _system(
            sasl_broker, state_dir, security_protocol="SSL", ssl_cafile=ca
        ),
        "login refused, SASL broker": lambda: _system(
            sasl_broker, state_dir, security_protocol="SASL_SSL", ssl_cafile=ca, **login
        ),
    }[case]()


@pytest.mark.parametrize(
    ("case", "reason", "logged"),
    [
        ("plaintext client, TLS broker", "brokers are down", "in state APIVERSION_QUERY"),
        ("CA not trusted", "certificate verify failed", "SSL handshake failed"),
        ("login refused, SASL broker", "SASL authentication error", "SASL authentication error"),
    ],
)
def test_the_sync_client_is_refused_within_its_bootstrap_timeout_and_says_why(
    case: str,
    reason: str,
    logged: str,
    tls_broker: EmbeddedBroker,
    sasl_broker: EmbeddedBroker,
    certificates: Certificates,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = _refused(case, tls_broker, sasl_broker, certificates, tmp_path)
    caplog.set_level("INFO", logger="producers.client")
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable, match=f"did not answer within 2 s.*{reason}") as refused:
        EventClient(settings, bootstrap_timeout_s=2)
    assert time.monotonic() - started < 10
    assert isinstance(refused.value, TimeoutError) and refused.value.retriable
    assert logged in caplog.text  # librdkafka's own log lines, in Python logging
    assert not _leaked(str(refused.value) + caplog.text)


def test_a_worker_refused_its_login_exits_non_zero_and_leaks_nothing(
    tls_broker: EmbeddedBroker,
    sasl_broker: EmbeddedBroker,
    certificates: Certificates,
    tmp_path: Path,
) -> None:
    settings = _refused(
        "login refused, SASL broker", tls_broker, sasl_broker, certificates, tmp_path
    )
    log_path = tmp_path / "worker.log"
    worker = WorkerProcess(settings, log_path=log_path, loglevel="DEBUG").start()
    deadline = time.monotonic() + 30
    while worker.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    code = worker.stop()
    log = log_path.read_text()
    assert code not in (0, None), f"worker exited {code}"
    assert "_do_sasl_handshake" in log  # where it gave up: the SASL login
    assert "SaslAuthenticateRequest" in log  # its DEBUG log shows the exchange...
    assert not _leaked(log)  # ...and no secret


def test_tansu_cannot_create_a_user_on_a_broker_that_requires_login(
    sasl_broker: EmbeddedBroker,
) -> None:
    """Pins the limit docs/operations.md states: ``tansu user create`` is refused by an
    authenticated Tansu 0.6 (it does not log in itself), so no user can be made there."""
    done = subprocess.run(
        [tansu_binary(), "user", "create", "svc-adstream", "x", "--broker",
         f"tcp://127.0.0.1:{sasl_broker.tansu_port}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert "early eof" in done.stderr


def test_the_demo_runs_on_the_tls_broker_and_its_summary_keeps_no_secret(
    tls_broker: EmbeddedBroker, certificates: Certificates, tmp_path: Path
) -> None:
    settings = _system(
        tls_broker, tmp_path / "state", security_protocol="SSL", ssl_cafile=str(certificates.ca)
    )
    options = DemoOptions(
        duration_s=4,
        rate_per_s=40,
        attribution_window_s=1,
        runs_dir=tmp_path / "runs",
        live=False,
        scenario=False,
        weights_at_half=None,
    )
    summary = run_demo(options, settings)

    assert summary["queries_sent"] > 0
    assert summary["unanswered_not_shed"] == 0
    written = (tmp_path / "runs" / "latest" / "summary.json").read_text()
    assert json.loads(written)["queries_sent"] == summary["queries_sent"]
    assert not _leaked(written)
    assert not _leaked((tmp_path / "runs" / "logs" / "worker.log").read_text())


def test_adstream_broker_serves_tls_only_and_stops_on_sigterm(
    certificates: Certificates, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADSTREAM_")}
    env |= {"ADSTREAM_SECURITY_PROTOCOL": "SSL", "ADSTREAM_SSL_CAFILE": str(certificates.ca)}
    output = tmp_path / "broker.out"
    with output.open("w") as sink:
        broker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "broker",
             "--tls-cert", str(certificates.cert), "--tls-key", str(certificates.key)],
            stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        ready = re.compile(r"export ADSTREAM_KAFKA=(127\.0\.0\.1:\d+)")
        deadline = time.monotonic() + 30
        while not (found := ready.search(output.read_text())) and time.monotonic() < deadline:
            assert broker.poll() is None, output.read_text()
            time.sleep(0.1)  # polling, with a deadline
        assert found, f"adstream broker not ready within 30 s: {output.read_text()}"
        settings = Settings.from_env(env, kafka=found.group(1), topic_prefix="adstream.")
        with EventClient(settings) as client:  # the topics were created over TLS
            assert client.send_click("imp-1").get(timeout=10).topic == "adstream.clicks"
        with pytest.raises(BrokerUnreachable):
            EventClient(settings.replace(security_protocol="PLAINTEXT", ssl_cafile=""),
                        bootstrap_timeout_s=1)  # fmt: skip
        broker.send_signal(signal.SIGTERM)
        assert broker.wait(timeout=30) == 0
        port = found.group(1).split(":")[1]
        leftovers = subprocess.run(
            ["pgrep", "-af", f"tansu.*:{port}|tls_terminator --port={port}"],
            capture_output=True,
            text=True,
        ).stdout
        assert not leftovers.strip(), f"left running: {leftovers}"
    finally:
        if broker.poll() is None:
            broker.kill()
