"""``adstream config check|show`` and ``--config``: a configuration checked or written out,
its errors as ``config error: <field>: <reason>`` with exit 2, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import adstream.cli
from streams.cli import main

CONFIGS = Path(__file__).resolve().parents[4] / "configs"
BAD = """
[models.click]
objective = "engagement"
label = "click"
model = { factory = "learners.ftrl:FTRLLogisticRegression", params = { alpah = 0.1 } }
"""


@pytest.fixture(autouse=True)
def no_adstream_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ADSTREAM_* variable; ``--config`` sets ADSTREAM_CONFIG, undone after the test."""
    for name in [name for name in os.environ if name.startswith("ADSTREAM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ADSTREAM_CONFIG", "")


def bad_file(tmp_path: Path) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    return str(path)


def test_check_summarizes_the_default_configuration(capsys) -> None:
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("streams/config/default.toml: OK")
    assert "click    objective engagement  label click   features default  " in out
    assert "learners.ftrl:FTRLLogisticRegression" in out
    assert "category base learners.ftrl:FTRLLogisticRegression" in out


def test_check_names_a_pipeline_by_its_steps(capsys) -> None:
    path = CONFIGS / "pipeline-numeric.toml"
    assert main(["config", "check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: OK" in out
    assert "river.compose:Pipeline(StandardScaler | LogisticRegression)" in out
    assert "features numeric" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "check", "--config", "{bad}"],
        ["--config", "{bad}", "config", "check"],
        ["--config", "{bad}", "config", "show"],
    ],
)
def test_a_bad_configuration_exits_2_naming_the_field(tmp_path, capsys, argv) -> None:
    bad = bad_file(tmp_path)
    assert main([arg.format(bad=bad) for arg in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "adstream config: config error: models.click.model.params.alpah: "
        "FTRLLogisticRegression takes no parameter 'alpah'; it takes: alpha, beta, l1, l2\n"
    )


def test_a_toml_syntax_error_names_the_line(tmp_path, capsys) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[models.click\n")
    assert main(["config", "check", "--config", str(path)]) == 2
    assert f"config error: {path}:1: not TOML" in capsys.readouterr().err


def test_show_prints_toml_that_loads_back(tmp_path, capsys) -> None:
    assert main(["config", "show", "--config", str(CONFIGS / "hoeffding-tree.toml")]) == 0
    text = capsys.readouterr().out
    tables = tomllib.loads(text)
    assert text.startswith(f"# {CONFIGS / 'hoeffding-tree.toml'}")
    tree = tables["models"]["click"]["model"]
    assert tree["factory"] == "river.tree:HoeffdingAdaptiveTreeClassifier"
    assert (tree["params"]["seed"], tree["params"]["grace_period"]) == (42, 200)
    shown = tmp_path / "shown.toml"
    shown.write_text(text)
    assert main(["config", "show", "--config", str(shown)]) == 0
    assert tomllib.loads(capsys.readouterr().out) == tables


def test_show_as_json_never_prints_secrets(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ADSTREAM_SNAPSHOT_KEY", "a-secret-key-of-the-workers")
    monkeypatch.setenv("ADSTREAM_PARTITIONS", "3")
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["settings"]["partitions"] == 3
    assert "a-secret-key-of-the-workers" not in out
    assert "snapshot_key" not in shown["settings"] and "sasl_password" not in shown["settings"]


def test_config_becomes_the_environment_of_what_a_command_starts(
    monkeypatch, tmp_path, capsys
) -> None:
    path = CONFIGS / "arf.toml"
    assert main(["--config", str(path), "config", "check"]) == 0
    assert os.environ["ADSTREAM_CONFIG"] == str(path)
    monkeypatch.chdir(tmp_path)  # a relative path is made absolute: a child may start elsewhere
    (tmp_path / "mine.toml").write_text((CONFIGS / "arf.toml").read_text())
    assert main(["config", "check", "--config", "mine.toml"]) == 0
    assert os.environ["ADSTREAM_CONFIG"] == str(tmp_path / "mine.toml")
    assert f"{tmp_path / 'mine.toml'}: OK" in capsys.readouterr().out


def test_a_bad_setting_in_the_file_stops_a_worker_before_it_starts(tmp_path, capsys) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[settings]\npartitions = 'four'\n")
    for argv in (["worker", "--config", str(path)], ["--config", str(path), "worker"]):
        assert main(argv) == 2
        assert capsys.readouterr().err == (
            "adstream worker: config error: settings.partitions: expected an integer, "
            "got a string 'four'\n"
        )


def test_the_adstream_command_takes_config_before_any_command(tmp_path) -> None:
    parser = adstream.cli.parser()
    assert parser.parse_args(["--config", "a.toml", "worker"]).config == "a.toml"
    assert parser.parse_args(["worker", "--config", "b.toml"]).config == "b.toml"
    assert parser.parse_args(["--config", "a.toml", "config", "check"]).config == "a.toml"
    assert (
        parser.parse_args(["--config", "a.toml", "config", "check", "--config", "b.toml"]).config
        == "b.toml"
    )
    assert parser.parse_args(["models", "list"]).config is None


def test_a_worker_with_a_bad_model_exits_2_before_it_starts(tmp_path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ADSTREAM_")},
        "ADSTREAM_KAFKA": "127.0.0.1:9",  # never reached: the configuration fails first
        "ADSTREAM_STATE_DIR": str(tmp_path / "state"),
    }
    worker = subprocess.run(  # a process of its own: a worker sets up logging and the collector
        [sys.executable, "-m", "streams.cli", "worker", "--config", bad_file(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 2
    assert "adstream worker: config error: models.click.model.params.alpah: " in worker.stderr
    assert "Traceback" not in worker.stderr
