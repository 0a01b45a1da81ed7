"""A demo stopped with SIGTERM (a supervisor, ``timeout``, ``kill``) stops its embedded broker
and worker too, as Ctrl-C does: nothing it started outlives it."""

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
                "streams.cli",
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
