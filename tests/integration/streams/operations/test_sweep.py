"""`adstream weights sweep` reads the logged traffic from the topics and estimates a grid."""

from __future__ import annotations

import asyncio
import json

import pytest

from learners import Weights
from streams.cli import main
from streams.operations.sweep import run_sweep
from streams.wire import contracts

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000
ENGAGEMENT = [0.9, 0.1]  # "a" is the clickable ad
QUALITY = [0.1, 0.9]  # "b" is the good one


def _log(produce, n: int) -> None:
    """A uniform logging policy over two candidates: ``a`` is clicked, ``b`` is rated 0.9."""
    for i in range(n):
        event_id, shown = f"e{i}", "ab"[i % 2]
        prediction = contracts.prediction(
            event_id=event_id,
            ts_event=T0,
            ts_scored=T0,
            ad_ids=["a", "b"],
            scores={"engagement": ENGAGEMENT, "quality": QUALITY},
            versions={"click": 1},
        )
        produce("predictions", event_id.encode(), contracts.encode(prediction))
        impression = contracts.impression(
            impression_id=f"i{i}",
            event_id=event_id,
            ad_id=shown,
            position=0,
            ts=T0,
            arm="explore",
            propensity=0.5,
        )
        produce("impressions", f"i{i}".encode(), contracts.encode(impression))
        if shown == "a":
            produce(
                "clicks",
                f"i{i}".encode(),
                contracts.encode(contracts.click(impression_id=f"i{i}", ts=T0 + 1)),
            )
        rating = contracts.rating(
            impression_id=f"i{i}", quality=0.9 if shown == "b" else 0.2, ts=T0 + 2
        )
        produce("ratings", f"i{i}".encode(), contracts.encode(rating))


def test_the_sweep_estimates_each_weight_setting_from_the_logs(settings, produce, tmp_path):
    _log(produce, 40)
    grid = [Weights(0.0, 1.0, 0), Weights(1.0, 0.0, 1)]
    rows = asyncio.run(run_sweep(settings, tmp_path, grid))
    engagement_only, quality_only = rows
    # engagement only always shows "a": matches half the log, each click weighted 1 / 0.5
    assert engagement_only["matches"] == 20 and engagement_only["ctr"] == pytest.approx(1.0)
    assert engagement_only["mean_quality"] == pytest.approx(0.2)
    assert quality_only["ctr"] == pytest.approx(0.0)
    assert quality_only["mean_quality"] == pytest.approx(0.9)
    assert engagement_only["pareto"] and quality_only["pareto"]
    assert json.loads((tmp_path / "sweep.json").read_text()) == rows
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_weights_sweep_cli(settings, produce, tmp_path, monkeypatch, capsys):
    _log(produce, 10)
    for name, value in settings.env().items():
        monkeypatch.setenv(name, value)
    assert main(["weights", "sweep", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "off-policy estimates" in out and (tmp_path / "sweep.png").exists()
