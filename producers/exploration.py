"""Epsilon-greedy exploration by the front-end, with the propensity of every shown ad logged.

With probability ``1 - epsilon`` the front-end shows the top-ranked ad (arm ``"exploit"``);
with probability ``epsilon`` it shows a candidate drawn uniformly from the query's ``n``
candidates (arm ``"explore"``; the draw may land on the top ad too). The probability that an ad
is shown is therefore

* ``1 - epsilon + epsilon / n`` for the top-ranked ad,
* ``epsilon / n`` for any other candidate,

whichever arm showed it, and these sum to 1 over the candidates. The impression carries that
probability as its ``propensity``. Every candidate has a non-zero chance of being shown, so the
outcome of any other ranking policy (other weights) can be estimated from the logged traffic by
inverse propensity scoring: average ``reward * [policy's top ad == shown ad] / propensity``
(what ``adstream weights sweep`` does).

>>> import random
>>> policy = EpsilonGreedy(epsilon=0.1)
>>> candidates = ["ad-1", "ad-2", "ad-3", "ad-4"]
>>> policy.propensity("ad-2", top="ad-2", candidates=candidates)
0.925
>>> policy.propensity("ad-4", top="ad-2", candidates=candidates)
0.025
>>> shown = policy.choose("ad-2", candidates, random.Random(1))
>>> shown.arm, shown.ad_id, shown.propensity
('exploit', 'ad-2', 0.925)
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Literal

from streams.wire import contracts

__all__ = ["MIN_EPSILON", "EpsilonGreedy", "Shown"]

#: The smallest positive epsilon: with up to ``MAX_CANDIDATES`` (100) candidates, ``epsilon / n``
#: stays at or above the smallest propensity an impression may carry (1e-6).
MIN_EPSILON = 1e-6 * contracts.MAX_CANDIDATES


@dataclasses.dataclass(frozen=True, slots=True)
class Shown:
    """The ad the front-end shows, the arm that chose it and the probability it had."""

    ad_id: str
    arm: Literal["exploit", "explore"]
    propensity: float


class EpsilonGreedy:
    """Show the top-ranked ad, or with probability ``epsilon`` a uniformly random candidate.

    Parameters
    ----------
    epsilon
        Exploration probability: 0 (always the top ad, propensity 1) or in
        [:data:`MIN_EPSILON`, 1].
    """

    def __init__(self, *, epsilon: float = 0.1) -> None:
        if not (epsilon == 0.0 or MIN_EPSILON <= epsilon <= 1.0):
            raise ValueError(f"epsilon must be 0 or in [{MIN_EPSILON:g}, 1], got {epsilon!r}")
        self.epsilon = epsilon

    def propensity(self, ad_id: str, *, top: str, candidates: Sequence[str]) -> float:
        """The probability that ``ad_id`` is shown when ``top`` is ranked first.

        Raises
        ------
        ValueError
            If ``ad_id`` or ``top`` is not among ``candidates``.
        """
        if ad_id not in candidates or top not in candidates:
            raise ValueError(f"{ad_id!r} and {top!r} must both be candidates")
        uniform = self.epsilon / len(candidates)
        return 1.0 - self.epsilon + uniform if ad_id == top else uniform

    def choose(self, top: str, candidates: Sequence[str], rng: random.Random) -> Shown:
        """The ad to show for a query whose ranking puts ``top`` first; one or two draws."""
        if self.epsilon and rng.random() < self.epsilon:
            ad_id, arm = rng.choice(candidates), "explore"
        else:
            ad_id, arm = top, "exploit"
        return Shown(ad_id, arm, self.propensity(ad_id, top=top, candidates=candidates))
