"""Alert rules over a worker's health figures, and the book of alerts raised and cleared.

Rules are pure: each takes the latest figures (and whether its alert is raised now, for
hysteresis) and returns the evidence of an active condition, or ``None``. :class:`AlertBook`
turns the set of active conditions into ``alerts`` records: ``raised`` when a condition
starts, ``cleared`` when it stops. One alert per ``(kind, model or topic)``.

Kinds and their conditions (thresholds in :class:`AlertPolicy`):

The three model rules apply after ``warmup_examples``, and detections made before it do not
count: a model learning from scratch is neither calibrated nor stable, and while the ranker
learns which ads to show, the clicks it collects change too.

- ``loss_drift``: the model's loss detector (ADWIN on the normalized loss, rises only) saw a
  rise within the last ``quiet_examples`` examples; clears once that many examples pass
  without another.
- ``calibration_drift``: the residual detector (ADWIN, both ways) saw a change within the last
  ``quiet_examples`` examples and the recent calibration is outside ``calibration_band``;
  clears when the recent calibration is back inside the band.
- ``label_shift``: the label rate of the last 2,500 examples differs from that of the 5,000
  before the 2,500 before them by a factor of at least ``shift_ratio``, with a two-proportion
  z of at least ``shift_z`` (what is clicked changed abruptly; a model that re-learns it
  within a couple of thousand examples leaves its loss and calibration detectors little to
  see); clears when z is below ``shift_z_clear``.
- ``no_skill``: after ``warmup_examples``, the recent normalized entropy is at least
  ``ne_raise`` (the model is no better than always predicting the base rate: 1.02, not 1,
  because a barely skilled model's NE over 5,000 examples with 100 clicks wanders around 0.98
  by about 0.02) and, for a click model, its recent ROC AUC is at most ``auc_raise`` (it ranks
  clicks barely above chance); clears when the NE is below ``ne_clear`` or the AUC above
  ``auc_clear``. Both, because a weak model's NE alone touches 1.02 now and then: in the
  scenarios' world the click model's recent NE wanders between 0.96 and 1.01 and its AUC
  between 0.56 and 0.70, while labels attributed to the wrong impressions take them to 1.05
  and 0.45 within 4,000 examples.
- ``stale``: no example learned for ``stale_after_s`` while queries are still served.
- ``score_shift``: the PSI of the last window of served scores against the one before is above
  ``psi_raise``; clears below ``psi_clear``.
- ``input_rate_collapse``: an input topic's rate over the last 5 s fell below
  ``collapse_share`` of its rate over the minute before (at least ``min_rate_per_s``); clears
  at half that reference rate.
- ``dead_letter_rate``: over the last 10 s more than ``dead_letter_share`` of the inputs read
  (and at least ``min_dead_letters``) went to ``dead-letter``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AlertBook",
    "AlertPolicy",
    "calibration_drift",
    "dead_letter_rate",
    "input_rate_collapse",
    "label_shift",
    "large_shift",
    "loss_drift",
    "no_skill",
    "score_shift",
    "stale",
]

log = logging.getLogger(__name__)

Evidence = dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AlertPolicy:
    """The thresholds of every rule (see the module docstring)."""

    quiet_examples: int = 5_000
    calibration_band: tuple[float, float] = (0.8, 1.25)
    min_positives: float = 30.0
    warmup_examples: int = 10_000
    shift_z: float = 4.5
    shift_ratio: float = 1.5
    shift_z_clear: float = 2.0
    ne_raise: float = 1.02
    ne_clear: float = 0.99
    auc_raise: float = 0.55
    auc_clear: float = 0.58
    stale_after_s: float = 60.0
    psi_raise: float = 0.25
    psi_clear: float = 0.1
    collapse_share: float = 0.1
    min_rate_per_s: float = 1.0
    dead_letter_share: float = 0.01
    min_dead_letters: int = 10


def _shift_evidence(detections: Mapping[str, Any], n: int, policy: AlertPolicy) -> Evidence | None:
    """The evidence of a detector's latest episode, if its last detection is recent and after
    the warm-up: where the episode began (its first detection) and how the means moved then."""
    last, onset = detections["last"], detections["onset"]
    if last is None or last["n"] < policy.warmup_examples or n - last["n"] >= policy.quiet_examples:
        return None
    return {
        "at_example": onset["n"],
        "before": onset["before"],
        "after": onset["after"],
        "examples_since_detection": n - onset["n"],
        "examples_since_change": n - onset["n"] + onset["kept"],  # at most: ADWIN's window
    }


def loss_drift(health: Mapping[str, Any], policy: AlertPolicy) -> Evidence | None:
    """A rise of the normalized loss, seen recently by the loss detector (after the warm-up)."""
    return _shift_evidence(health["loss_drift"], health["n"], policy)


def calibration_drift(
    health: Mapping[str, Any], policy: AlertPolicy, raised: bool
) -> Evidence | None:
    """A change of the residual seen by its detector, with the recent calibration off-band
    (after the warm-up: a model learning from scratch is not calibrated yet)."""
    if health["n"] < policy.warmup_examples:
        return None
    recent = health["recent"]
    low, high = policy.calibration_band
    calibration = recent["calibration"]
    if recent["positives"] < policy.min_positives or not math.isfinite(calibration):
        return {"calibration": calibration} if raised else None
    if low <= calibration <= high:
        return None
    change = _shift_evidence(health["calibration_drift"], health["n"], policy)
    if change is None and not raised:
        return None
    return {"calibration": calibration, "band": [low, high], **(change or {})}


def large_shift(shift: Mapping[str, float], policy: AlertPolicy) -> bool:
    """Whether one of a label shift's two rates is ``shift_ratio`` times the other or more."""
    low, high = sorted((shift["recent_rate"], shift["reference_rate"]))
    return high >= policy.shift_ratio * low


def label_shift(health: Mapping[str, Any], policy: AlertPolicy, raised: bool) -> Evidence | None:
    """The recent label rate a factor ``shift_ratio`` off the reference rate before it, with a
    z of ``shift_z`` or more (once raised: until z falls below ``shift_z_clear``); after the
    warm-up, when the ranker's own learning moves the click rate most."""
    shift = health["label_shift"]
    z = shift["z"]
    if health["n"] < policy.warmup_examples or not math.isfinite(z):
        return None
    if raised:
        active = abs(z) >= policy.shift_z_clear
    else:
        active = abs(z) >= policy.shift_z and large_shift(shift, policy)
    # the change lies within the recent span: a challenger trains from that many examples
    return {**shift, "examples_since_change": shift["recent_examples"]} if active else None


def no_skill(health: Mapping[str, Any], policy: AlertPolicy, raised: bool) -> Evidence | None:
    """The recent NE at or above ``ne_raise`` and the recent AUC at or below ``auc_raise``
    (where it is defined: binary labels); once raised, until the NE is below ``ne_clear`` or
    the AUC above ``auc_clear``. After the warm-up."""
    recent = health["recent"]
    ne, auc = recent["ne"], recent.get("auc", math.nan)
    if health["n"] < policy.warmup_examples or not math.isfinite(ne):
        return None
    ranks_no_better = not math.isfinite(auc) or auc <= (
        policy.auc_clear if raised else policy.auc_raise
    )
    if ranks_no_better and ne >= (policy.ne_clear if raised else policy.ne_raise):
        return {"ne": ne, "auc": auc, "window": recent["n"]}
    return None


def stale(
    last_learned_at: float | None, now_s: float, serving: bool, policy: AlertPolicy
) -> Evidence | None:
    """Nothing learned for ``stale_after_s`` while this worker still answers queries."""
    if last_learned_at is None or not serving:
        return None
    idle_s = now_s - last_learned_at
    return {"seconds_since_learned": round(idle_s, 1)} if idle_s > policy.stale_after_s else None


def score_shift(value: float, policy: AlertPolicy, raised: bool) -> Evidence | None:
    """The PSI of the served scores above ``psi_raise`` (or, once raised, ``psi_clear``)."""
    if not math.isfinite(value):
        return None
    limit = policy.psi_clear if raised else policy.psi_raise
    return {"psi": value} if value > limit else None


def input_rate_collapse(
    recent_per_s: float, reference_per_s: float, policy: AlertPolicy, raised: Evidence | None
) -> Evidence | None:
    """The recent rate below ``collapse_share`` of the reference; once raised, the reference
    is the one at the time it was raised, and the alert clears at half of it."""
    if raised is not None:
        reference_per_s = raised["reference_per_s"]
        if recent_per_s >= 0.5 * reference_per_s:
            return None
        return {**raised, "recent_per_s": recent_per_s}
    if reference_per_s < policy.min_rate_per_s:
        return None
    if recent_per_s < policy.collapse_share * reference_per_s:
        return {"recent_per_s": recent_per_s, "reference_per_s": reference_per_s}
    return None


def dead_letter_rate(dead_letters: int, inputs: int, policy: AlertPolicy) -> Evidence | None:
    """More than ``dead_letter_share`` of the inputs dead-lettered (and enough of them)."""
    if dead_letters < policy.min_dead_letters:
        return None
    share = dead_letters / max(inputs, 1)
    if share <= policy.dead_letter_share:
        return None
    return {"dead_letters": dead_letters, "inputs": inputs, "share": share}


AlertKey = tuple[str, str]  # (kind, model or topic)


class AlertBook:
    """The alerts this worker has raised; :meth:`update` turns conditions into records."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self._raised: dict[AlertKey, dict[str, Any]] = {}

    def evidence(self, kind: str, subject: str) -> Evidence | None:
        """The evidence of a raised alert (``None`` if it is not raised)."""
        alert = self._raised.get((kind, subject))
        return alert["evidence"] if alert else None

    def is_raised(self, kind: str, subject: str) -> bool:
        return (kind, subject) in self._raised

    @property
    def raised(self) -> list[dict[str, Any]]:
        return list(self._raised.values())

    def update(
        self, active: Mapping[AlertKey, Evidence], ts_ms: int, checked: set[AlertKey]
    ) -> list[dict[str, Any]]:
        """Raise the ``active`` conditions not yet raised, clear the raised ones that were
        ``checked`` and are no longer active; the ``alerts`` records of both."""
        records = []
        for key, evidence in active.items():
            if key in self._raised:
                self._raised[key]["evidence"] = evidence
                continue
            alert = self._record(key, "raised", evidence, ts_ms, raised_at=ts_ms)
            self._raised[key] = alert
            records.append(alert)
            log.warning("alert raised: %s %s %s", key[0], key[1], evidence)
        for key in [key for key in self._raised if key in checked and key not in active]:
            alert = self._raised.pop(key)
            records.append(
                self._record(key, "cleared", alert["evidence"], ts_ms, raised_at=alert["ts"])
            )
            log.warning("alert cleared: %s %s", *key)
        return records

    def _record(
        self, key: AlertKey, state: str, evidence: Evidence, ts_ms: int, *, raised_at: int
    ) -> dict[str, Any]:
        kind, subject = key
        return {
            "kind": kind,
            "model": subject,
            "state": state,
            "evidence": evidence,
            "ts": ts_ms,
            "raised_at": raised_at,
            "worker": self.worker,
        }
