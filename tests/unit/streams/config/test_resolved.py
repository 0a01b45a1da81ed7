"""A configuration written out with every default: TOML that loads back to the same, without
secrets."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from streams.config import load_config, resolved
from streams.config.toml_writer import dumps
from streams.wire.settings import Settings

CONFIGS = [None, *sorted((Path(__file__).resolve().parents[4] / "configs").glob("*.toml"))]


@pytest.mark.parametrize("path", CONFIGS, ids=["default"] + [p.stem for p in CONFIGS[1:]])
def test_a_resolved_configuration_loads_back_to_itself(tmp_path: Path, path: Path | None) -> None:
    tables = resolved(load_config(str(path) if path else None), Settings())
    text = dumps(tables)
    assert tomllib.loads(text) == tables
    again = tmp_path / "resolved.toml"
    again.write_text(text)
    assert resolved(load_config(str(again)), Settings()) == tables


def test_every_default_is_written_out() -> None:
    path = Path(__file__).resolve().parents[4] / "configs" / "river-logistic.toml"
    tables = resolved(load_config(str(path)))
    click = tables["models"]["click"]
    assert (click["objective"], click["label"], click["features"]) == (
        "engagement",
        "click",
        "default",
    )
    params = click["model"]["params"]
    assert params["optimizer"] == {
        "factory": "river.optim:SGD",
        "params": {
            "lr": {"factory": "river.optim.schedulers:Constant", "params": {"learning_rate": 0.05}}
        },
    }
    assert params["intercept_init"] == 0.0  # left out of the file: River's default
    assert tables["features"]["default"]["attributes"][0]["token"] == "q"
    assert tables["category"]["base"]["factory"] == "learners.ftrl:FTRLLogisticRegression"


def test_settings_are_written_without_secrets_or_the_file_itself() -> None:
    settings = Settings(snapshot_key="k" * 32, partitions=2)
    table = resolved(load_config(None), settings)["settings"]
    assert table["partitions"] == 2
    assert {"snapshot_key", "sasl_password", "config"}.isdisjoint(table)
    assert "k" * 32 not in dumps({"settings": table})
