"""Reading the configuration file: a dict, or a ConfigError naming the file (and the line)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from learners.errors import ConfigError
from streams.wire.config_file import DEFAULT_CONFIG, read_settings, read_toml

TYPES = {"partitions": int, "attribution_window_s": float, "topic_prefix": str}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "adstream.toml"
    path.write_text(text)
    return path


def test_the_default_configuration_ships_with_the_package_and_is_toml() -> None:
    tables = read_toml(DEFAULT_CONFIG)
    assert {"models", "category", "features"} <= set(tables)


def test_a_missing_file_is_named() -> None:
    with pytest.raises(ConfigError) as error:
        read_toml("/nonexistent/adstream.toml")
    assert error.value.field == "/nonexistent/adstream.toml"
    assert "no such configuration file" in error.value.reason


def test_a_toml_syntax_error_names_the_file_and_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[models.click]\nlabel = "click"\nobjective = engagement\n')
    with pytest.raises(ConfigError) as error:
        read_toml(path)
    assert error.value.field == f"{path}:3"
    assert error.value.reason.startswith("not TOML: ")
    assert "line 3" in error.value.reason


def test_settings_are_read_with_their_toml_types(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[settings]\npartitions = 2\nattribution_window_s = 5\ntopic_prefix = "t."\n'
    )
    values = read_settings(path, TYPES)
    assert values == {"partitions": 2, "attribution_window_s": 5.0, "topic_prefix": "t."}
    assert type(values["attribution_window_s"]) is float


def test_a_file_without_settings_gives_none(tmp_path: Path) -> None:
    assert read_settings(write(tmp_path, "[modules]\nallow = []\n"), TYPES) == {}


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("partitions = 2.5", "settings.partitions", "expected an integer, got a number 2.5"),
        ('partitions = "2"', "settings.partitions", "expected an integer, got a string '2'"),
        ("topic_prefix = 1", "settings.topic_prefix", "expected a string, got an integer 1"),
        ("partitions = true", "settings.partitions", "expected an integer, got true or false"),
        ("partition = 2", "settings.partition", "unknown setting; known: attribution_window_s"),
        ('config = "other.toml"', "settings.config", "named by ADSTREAM_CONFIG or --config"),
    ],
)
def test_a_bad_setting_is_named_with_the_reason(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as error:
        read_settings(write(tmp_path, f"[settings]\n{text}\n"), TYPES)
    assert error.value.field == field
    assert reason in error.value.reason


def test_settings_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="settings: a table of settings, got an integer"):
        read_settings(write(tmp_path, "settings = 3\n"), TYPES)


def test_read_toml_is_tomllib(tmp_path: Path) -> None:
    text = '[a]\nb = [1, 2]\nc = { d = "e" }\n'
    assert read_toml(write(tmp_path, text)) == tomllib.loads(text)
