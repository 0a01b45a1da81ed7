"""Worker processes started by the demo, the tests and the benchmark harness."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from streams.wire.settings import Settings

__all__ = ["WorkerProcess"]

log = logging.getLogger(__name__)


class WorkerProcess:
    """``adstream worker`` in a child process with the given settings; a context manager.

    :meth:`stop` sends SIGTERM (a clean Faust shutdown) and SIGKILL after ``timeout_s``;
    :meth:`kill` is the crash a recovery test needs.
    """

    def __init__(
        self, settings: Settings, *, log_path: Path | None = None, loglevel: str = "WARNING"
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.loglevel = loglevel
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> WorkerProcess:
        env = {**os.environ, **self.settings.env()}
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        command = [sys.executable, "-m", "streams.cli", "worker", "--loglevel", self.loglevel]
        self._process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        if output is not subprocess.DEVNULL:
            output.close()
        log.info("worker started, pid %s", self._process.pid)
        return self

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Stop cleanly; returns the exit code."""
        return self._end(signal.SIGTERM, timeout_s)

    def kill(self) -> int | None:
        """SIGKILL, as a crash would."""
        return self._end(signal.SIGKILL, 5.0)

    def _end(self, sig: signal.Signals, timeout_s: float) -> int | None:
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("worker %s ignored %s; killing it", process.pid, sig.name)
                process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
