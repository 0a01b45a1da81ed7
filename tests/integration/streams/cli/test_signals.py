"""A demo stopped with SIGTERM (a supervisor, ``timeout``, ``kill``) stops its embedded broker
and worker too, as Ctrl-C does: nothing it started outlives it. So does ``adstream broker`` on
SIGTERM, and on SIGINT even when started with SIGINT ignored (a script's background job)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.broker


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)  # polling, with a deadline
    raise AssertionError(f"{what} within {timeout_s} s")


def test_sigterm_stops_the_demo_and_its_embedded_broker(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADSTREAM_")}
    output = tmp_path / "demo.out"
    with output.open("w") as sink:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "adstream",
                "demo",
                "--duration",
                "120",
                "--no-live",
                "--runs-dir",
                str(tmp_path / "runs"),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**env, "COLUMNS": "200"},
        )
    try:
        serving = re.compile(r"broker at 127\.0\.0\.1:(\d+)(?s:.*)worker serving after")
        match = _wait_for(lambda: serving.search(output.read_text()), 90, "the demo serving")
        port = int(match.group(1))
        assert _listening(port)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 128 + signal.SIGTERM
        _wait_for(lambda: not _listening(port), 15, "the embedded broker stopped")
    finally:
        if demo.poll() is None:
            demo.kill()


def _tansu_on(port: int) -> list[str]:
    """The Tansu processes listening on ``port``, as ``pgrep -af`` shows them."""
    found = subprocess.run(["pgrep", "-af", f"tansu.*:{port}"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def _ignore_sigint() -> None:
    """What bash does for a background job of a non-interactive script."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("sig", "started_with"),
    [(signal.SIGTERM, None), (signal.SIGINT, _ignore_sigint)],
    ids=["sigterm", "sigint-inherited-ignored"],
)
def test_the_broker_command_stops_its_broker_and_exits_0(sig, started_with, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADSTREAM_")}
    output = tmp_path / "broker.out"
    with output.open("w") as sink:
        command = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "broker"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=started_with,
        )
    port = None
    try:
        ready = re.compile(r"embedded broker at 127\.0\.0\.1:(\d+)")
        port = int(_wait_for(lambda: ready.search(output.read_text()), 60, "ready").group(1))
        assert _listening(port) and _tansu_on(port)
        command.send_signal(sig)
        assert command.wait(timeout=30) == 0, output.read_text()
        _wait_for(lambda: not _tansu_on(port), 15, "no Tansu process left on its port")
        assert not _listening(port)
        assert f"{sig.name}: embedded broker stopped" in output.read_text()
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
        for line in _tansu_on(port) if port else []:  # what this test started, by its pid
            os.kill(int(line.split()[0]), signal.SIGKILL)
