"""Hashed features: determinism across processes, index range, fast path == readable tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learners.features import (
    N_BITS_DEFAULT,
    candidate_features,
    feature_tokens,
    features_for,
    query_context,
    query_tokens,
    stable_hash,
)
from tests.unit.learners.strategies import QUERIES, ads

REPO_ROOT = Path(__file__).resolve().parents[3]

QUERY = {
    "event_id": "e1",
    "ts": 1_700_000_000_000,
    "user_id": "u1",
    "query": "Red running SHOES, red!",
    "context": {"device": "mobile", "region": "fr", "hour": 9, "segment": "new", "ab": 3},
    "candidates": [],
}
ADS = [
    {"ad_id": "a1", "advertiser_id": "acme", "category": "sports/shoes/running", "bid": 0.4},
    {"ad_id": "a2", "advertiser_id": "acme", "category": "sports", "bid": 0.2},
    {"ad_id": "é3", "advertiser_id": "zeta", "category": "electronics/phones", "bid": 1.0},
]

_SCRIPT = """
import json
from learners.features import features_for
from test_features_data import QUERY, ADS
print(json.dumps([sorted(features_for(QUERY, ad)) for ad in ADS]))
"""


def test_query_tokens_words_are_lowercased_deduplicated_and_context_bucketed() -> None:
    assert query_tokens(QUERY) == (
        "q=red",
        "q=running",
        "q=shoes",
        "device=mobile",
        "region=fr",
        "hour=08-11",
        "segment=new",
    )


@pytest.mark.parametrize(
    ("hour", "token"), [(0, "hour=00-03"), (23, "hour=20-23"), (24, "hour=unk")]
)
def test_hour_buckets(hour: int, token: str) -> None:
    assert query_tokens({"query": "", "context": {"hour": hour}}) == (token,)


def test_indices_are_identical_in_processes_with_other_hash_seeds(tmp_path: Path) -> None:
    (tmp_path / "test_features_data.py").write_text(f"QUERY = {QUERY!r}\nADS = {ADS!r}\n")
    expected = [sorted(features_for(QUERY, ad)) for ad in ADS]
    for seed in ("1", "2"):
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(tmp_path)]),
        }
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == expected


def test_stable_hash_is_masked_crc32_of_utf8() -> None:
    token = "q=café"
    assert stable_hash(token, 32) == zlib.crc32(token.encode("utf-8"))
    assert stable_hash(token, 12) == zlib.crc32(token.encode("utf-8")) & 0xFFF


@pytest.mark.parametrize("n_bits", [0, 33, 20.0, True])
def test_stable_hash_rejects_bad_n_bits(n_bits: object) -> None:
    with pytest.raises(ValueError, match="n_bits"):
        stable_hash("bias", n_bits)  # type: ignore[arg-type]


@pytest.mark.parametrize("ad", ADS)
def test_crosses_and_category_levels_are_present(ad: dict) -> None:
    tokens = set(feature_tokens(QUERY, ad))
    levels = ad["category"].split("/")
    top, full = f"cat={levels[0]}", f"cat={ad['category']}"
    expected = {
        "bias",
        f"ad={ad['ad_id']}",
        f"adv={ad['advertiser_id']}",
        *(f"cat={'/'.join(levels[: i + 1])}" for i in range(len(levels))),
        *(f"q={w}^{cat}" for w in ("red", "running", "shoes") for cat in (top, full)),
        f"device=mobile^{top}",
        f"hour=08-11^{top}",
        f"segment=new^{top}",
        f"segment=new^ad={ad['ad_id']}",
    }
    assert expected <= tokens
    x = features_for(QUERY, ad)
    assert {stable_hash(t, N_BITS_DEFAULT) for t in expected} <= set(x)
    assert not any("ab" in t for t in tokens)  # unknown context keys are ignored


def test_missing_context_keys_give_no_tokens_and_no_crosses() -> None:
    query = {"query": "tv", "context": {"device": "web"}}
    tokens = feature_tokens(query, ADS[0])
    assert not any(t.startswith(("segment=", "hour=", "region=")) for t in tokens)
    assert features_for(query, ADS[0]) == {stable_hash(t): 1.0 for t in tokens}


def test_candidate_features_returns_a_fresh_dict() -> None:
    ctx = query_context(QUERY)
    x = candidate_features(ctx, ADS[0])
    x.clear()
    assert candidate_features(ctx, ADS[0]) == features_for(QUERY, ADS[0])


@given(query=QUERIES, ad=ads(), n_bits=st.integers(1, 32))
def test_fast_path_equals_hashed_reference_tokens_and_stays_in_range(
    query: dict, ad: dict, n_bits: int
) -> None:
    x = features_for(query, ad, n_bits)
    assert x == {stable_hash(t, n_bits): 1.0 for t in feature_tokens(query, ad)}
    assert all(0 <= i < 2**n_bits for i in x)
