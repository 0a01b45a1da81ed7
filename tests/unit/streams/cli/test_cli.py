"""The CLI refuses what it cannot do before it talks to any broker: non-zero, with the reason on
stderr (the commands that reach a running system are tested on the broker)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streams.cli import main


@pytest.fixture(autouse=True)
def no_adstream_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("ADSTREAM_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("ADSTREAM_SNAPSHOTS", "yes", "snapshots must be 'on' or 'off', got 'yes'"),
        ("ADSTREAM_PARTITIONS", "four", "ADSTREAM_PARTITIONS='four': invalid literal"),
    ],
)
@pytest.mark.parametrize("command", [["worker"], ["models", "list"], ["broker"]])
def test_bad_settings_exit_2_naming_them(
    monkeypatch, capsys, variable: str, value: str, reason: str, command: list[str]
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(command) == 2
    assert f"adstream {command[0]}: bad ADSTREAM_* settings: {reason}" in capsys.readouterr().err


def test_a_command_for_a_running_system_needs_its_address(capsys) -> None:
    assert main(["models", "snapshot", "click"]) == 2
    assert "set ADSTREAM_KAFKA" in capsys.readouterr().err


def test_commands_reading_snapshots_never_make_a_key(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("ADSTREAM_KAFKA", "127.0.0.1:9")
    monkeypatch.setenv("ADSTREAM_STATE_DIR", str(tmp_path / "state"))
    for command in (["models", "list"], ["models", "snapshot", "click"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "no snapshot key: ADSTREAM_SNAPSHOT_KEY is not set" in err and "state" in err
    assert not (tmp_path / "state").exists()


def test_a_worker_refuses_a_key_file_others_may_read(tmp_path) -> None:
    key_file = tmp_path / "snapshot.key"
    key_file.write_text("a key\n")
    key_file.chmod(0o644)
    env = {"ADSTREAM_KAFKA": "127.0.0.1:9", "ADSTREAM_STATE_DIR": str(tmp_path)}
    worker = subprocess.run(  # a process of its own: a worker sets up logging and the collector
        [sys.executable, "-m", "streams.cli", "worker"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 2
    assert "readable by group or others (mode 0644): chmod 600 it" in worker.stderr
    assert "Traceback" not in worker.stderr


@pytest.mark.parametrize(
    "argv", [["models", "promote", "click", "abc"], ["models", "rebuild", "click", "latest"]]
)
def test_a_version_is_a_number(capsys, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "VERSION is a number" in capsys.readouterr().err
