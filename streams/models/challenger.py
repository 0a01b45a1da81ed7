"""A challenger: a fresh model trained from recent data, learning alongside its champion.

When a model's loss drifts, its learner starts a challenger: an untrained copy of the
champion (same estimator and hyperparameters), trained first on the champion's examples since
the change the detector located, then on every new example the champion learns, after it.
Both predict each new example before learning it, so their losses compare on the same
examples; the challenger's figures are reported next to the champion's. After its run, a
challenger that predicted them better by :data:`PROMOTE_MARGIN` can replace its champion
(:meth:`promotion`; the learner does it where the ``promote`` response is on).

>>> from streams.models.registry import default_models
>>> champion = default_models()["click"]
>>> def example(i):
...     return {"features": {i % 7: 1.0}, "label": float(i % 7 == 0), "weight": 1.0,
...             "sampling_rate": 1.0}
>>> for i in range(300):
...     _ = champion.learn(example(i)["features"], example(i)["label"])
>>> challenger = Challenger.start(champion, [example(i) for i in range(280, 300)])
>>> (challenger.trained_from, challenger.started_at, challenger.model.version)
(280, 300, 20)
>>> p = champion.learn(example(300)["features"], example(300)["label"])
>>> challenger.learn(example(300), p, 1.0)
>>> report = challenger.report()
>>> report["examples"], report["logloss"] > report["champion_logloss"]
(1, True)
>>> challenger.wins(), challenger.promotion(at_version=301).trained_from
(False, 280)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from learners.progressive import log_loss
from streams.models.registry import LiveModel, Promotion

__all__ = ["PROMOTE_MARGIN", "Challenger"]

#: A challenger wins if its mean log loss on the examples both predicted is at least this much
#: lower than its champion's (relative): a tie keeps the champion, which knows more history.
PROMOTE_MARGIN = 0.01


@dataclasses.dataclass(slots=True)
class Challenger:
    """A challenger of one champion and the two losses on the examples both predicted."""

    model: LiveModel
    trained_from: int  # the champion's version at the first example the challenger learned
    started_at: int  # the champion's version when the challenger started
    examples: int = 0  # new examples both predicted before learning
    weight: float = 0.0
    loss: float = 0.0
    champion_loss: float = 0.0

    @classmethod
    def start(cls, champion: LiveModel, recent: Sequence[dict[str, Any]]) -> Challenger:
        """A challenger trained on ``recent``: the champion's last examples, in order."""
        model = champion.untrained_copy()
        for example in recent:
            model.learn_example(example)
        return cls(model, champion.version - len(recent), champion.version)

    def learn(self, example: dict[str, Any], champion_p: float, weight: float) -> None:
        """Predict and learn one new example the champion predicted as ``champion_p`` (its
        population ``weight``)."""
        p = self.model.learn_example(example)
        label = example["label"]
        self.examples += 1
        self.weight += weight
        self.loss += weight * log_loss(label, p)
        self.champion_loss += weight * log_loss(label, champion_p)

    def wins(self) -> bool:
        """Whether it predicted the new examples better than its champion, by the margin."""
        return self.examples > 0 and self.loss < (1.0 - PROMOTE_MARGIN) * self.champion_loss

    def promotion(self, at_version: int) -> Promotion:
        """The record of replacing the champion (now at ``at_version``) with this model."""
        report = self.report()
        return Promotion(
            version=at_version,
            trained_from=self.trained_from,
            examples=self.examples,
            logloss=report["logloss"],
            champion_logloss=report["champion_logloss"],
        )

    def report(self) -> dict[str, Any]:
        """Both models' mean log loss on the new examples, and where the challenger began."""
        weight = self.weight or float("nan")
        return {
            "trained_from": self.trained_from,
            "started_at": self.started_at,
            "version": self.model.version,
            "examples": self.examples,
            "logloss": self.loss / weight,
            "champion_logloss": self.champion_loss / weight,
        }
