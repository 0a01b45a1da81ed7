"""A seeded search-ads world: taxonomy, users, ads, queries and the hidden click propensity.

Pure and deterministic: no I/O and no clock (time comes in as ``ts_ms``), every draw from a
``random.Random`` seeded by the world's seed. The simulator publishes the queries this world
makes and asks it, with the hidden :class:`QueryTruth`, how likely a shown ad is to be clicked.

>>> world = World(seed=7)
>>> event, truth = world.next_query(ts_ms=1_700_000_000_000)
>>> event["event_id"], event["query"], truth.leaf
('q-7-0', 'vuril ligetek peba rodako', 'travel/flights/domestic')
>>> event == World(seed=7).next_query(ts_ms=1_700_000_000_000)[0]
True
>>> 5 <= len(event["candidates"]) <= 20
True
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import random
from typing import Any

from streams import contracts

__all__ = [
    "DEVICES",
    "REGIONS",
    "SEGMENTS",
    "TAXONOMY",
    "Ad",
    "Leaf",
    "QueryTruth",
    "User",
    "World",
]

#: vertical -> category -> leaves: 5 x 3 x 3 = 45 leaves.
TAXONOMY: dict[str, dict[str, tuple[str, ...]]] = {
    "travel": {
        "flights": ("domestic", "international", "budget"),
        "hotels": ("resort", "city", "hostel"),
        "rentals": ("car", "camper", "bike"),
    },
    "electronics": {
        "phones": ("android", "iphone", "cases"),
        "computers": ("laptops", "desktops", "tablets"),
        "audio": ("headphones", "speakers", "microphones"),
    },
    "fashion": {
        "shoes": ("running", "boots", "sandals"),
        "clothing": ("jackets", "dresses", "jeans"),
        "accessories": ("watches", "bags", "sunglasses"),
    },
    "home": {
        "furniture": ("sofas", "beds", "tables"),
        "kitchen": ("cookware", "appliances", "cutlery"),
        "garden": ("tools", "plants", "grills"),
    },
    "finance": {
        "loans": ("mortgage", "personal", "student"),
        "cards": ("credit", "debit", "prepaid"),
        "insurance": ("auto", "health", "travel"),
    },
}
SEGMENTS = ("bargain", "premium", "casual", "pro")
DEVICES = ("mobile", "desktop", "tablet")
REGIONS = ("north", "south", "east", "west", "central")

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_WORDS_PER_LEVEL = {1: 3, 2: 4, 3: 6}  # vertical, category, leaf

# Hidden click model (logits): the best candidate at position 0 is clicked ~9 % of the time,
# a random candidate ~3 %.
_BASE_LOGIT = -3.3
_MATCH_LOGIT = {3: 0.0, 2: -1.3, 1: -2.0, 0: -2.8}  # path levels shared by query and ad
_DEVICE_LOGIT = {"desktop": 0.1, "mobile": 0.0, "tablet": -0.15}
_HOUR_AMPLITUDE = 0.25  # evening peak at 21:00 UTC
_POSITION_DECAY = 0.8  # examination probability (1 + position) ** -decay

# Click delay: lognormal, median 4 s; about 4 % beyond a 30 s window.
_DELAY_MEDIAN_S = 4.0
_DELAY_SIGMA = 1.15


@dataclasses.dataclass(frozen=True, slots=True)
class Leaf:
    """A leaf of the taxonomy with its own words; ``path`` is ``vertical/category/leaf``."""

    path: str
    vertical: str
    category: str
    words: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """A searcher: segment, home region, usual device and a few favourite leaves."""

    user_id: str
    segment: str
    region: str
    device: str
    favourites: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Ad:
    """An ad in one leaf; ``base_logit`` is its hidden propensity, never put on the wire."""

    ad_id: str
    advertiser_id: str
    category: str
    bid: float
    base_logit: float


@dataclasses.dataclass(frozen=True, slots=True)
class QueryTruth:
    """What the world knows about a query and the system must learn: its leaf and context."""

    event_id: str
    user_id: str
    leaf: str
    segment: str
    device: str
    region: str
    hour: int
    candidates: tuple[str, ...]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _shared_levels(a: str, b: str) -> int:
    """How many leading path levels two ``vertical/category/leaf`` paths share (0..3)."""
    shared = 0
    for x, y in zip(a.split("/"), b.split("/"), strict=True):
        if x != y:
            break
        shared += 1
    return shared


def _make_words(rng: random.Random, count: int, taken: set[str]) -> tuple[str, ...]:
    """``count`` new pronounceable words (consonant-vowel syllables) not in ``taken``."""
    words: list[str] = []
    while len(words) < count:
        syllables = rng.randint(2, 3)
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
        if rng.random() < 0.4:
            word += rng.choice(_CONSONANTS)
        if word not in taken:
            taken.add(word)
            words.append(word)
    return tuple(words)


def _vocabulary(rng: random.Random) -> dict[str, tuple[str, ...]]:
    """Words for every taxonomy node, keyed by path at each of the three levels."""
    taken: set[str] = set()
    vocabulary: dict[str, tuple[str, ...]] = {}
    for vertical, categories in TAXONOMY.items():
        vocabulary[vertical] = _make_words(rng, _WORDS_PER_LEVEL[1], taken)
        for category, leaves in categories.items():
            vocabulary[f"{vertical}/{category}"] = _make_words(rng, _WORDS_PER_LEVEL[2], taken)
            for leaf in leaves:
                path = f"{vertical}/{category}/{leaf}"
                vocabulary[path] = _make_words(rng, _WORDS_PER_LEVEL[3], taken)
    return vocabulary


class World:
    """The simulated search-ads world, deterministic for a seed.

    Parameters
    ----------
    seed
        Seeds every random draw; two worlds with the same seed make the same queries.
    n_users
        Number of users.
    n_ads
        Number of ads.
    n_advertisers
        Number of advertisers; each concentrates its ads in one category.
    """

    def __init__(
        self, *, seed: int = 0, n_users: int = 5_000, n_ads: int = 2_000, n_advertisers: int = 200
    ) -> None:
        self.seed = seed
        self.n_users = n_users
        self.n_ads = n_ads
        self.n_advertisers = n_advertisers
        rng = random.Random(seed)
        self.vocabulary = _vocabulary(rng)
        self.leaves = tuple(
            Leaf(path, *path.split("/")[:2], words)
            for path, words in self.vocabulary.items()
            if path.count("/") == 2
        )
        self.affinity = {
            (segment, vertical): rng.gauss(0.0, 0.6)
            for segment in SEGMENTS
            for vertical in TAXONOMY
        }
        self._leaf_weights = list(
            itertools.accumulate(1.0 / (rank + 1) for rank in range(len(self.leaves)))
        )
        self.users = tuple(self._make_user(rng, i) for i in range(n_users))
        self.ads = self._make_ads(rng)
        self._ads_by_id = {ad.ad_id: ad for ad in self.ads}
        self._ads_by_leaf: dict[str, list[Ad]] = {leaf.path: [] for leaf in self.leaves}
        self._ads_by_category: dict[str, list[Ad]] = {}
        for ad in self.ads:
            self._ads_by_leaf[ad.category].append(ad)
            self._ads_by_category.setdefault(ad.category.rsplit("/", 1)[0], []).append(ad)
        self._rng = random.Random(f"{seed}:queries")
        self._n_queries = 0

    def _popular_leaf(self, rng: random.Random) -> int:
        """A leaf index drawn from a Zipf-like popularity over the leaves."""
        point = rng.random() * self._leaf_weights[-1]
        return bisect.bisect_right(self._leaf_weights, point)

    def _make_user(self, rng: random.Random, index: int) -> User:
        return User(
            user_id=f"u-{index:05d}",
            segment=rng.choice(SEGMENTS),
            region=rng.choice(REGIONS),
            device=rng.choices(DEVICES, weights=(6, 3, 1))[0],
            favourites=tuple(self._popular_leaf(rng) for _ in range(3)),
        )

    def _make_ads(self, rng: random.Random) -> tuple[Ad, ...]:
        categories = sorted({leaf.path.rsplit("/", 1)[0] for leaf in self.leaves})
        home = [rng.choice(categories) for _ in range(self.n_advertisers)]
        quality = [rng.gauss(0.0, 0.5) for _ in range(self.n_advertisers)]
        ads = []
        for index in range(self.n_ads):
            advertiser = rng.randrange(self.n_advertisers)
            if rng.random() < 0.85:
                leaf = f"{home[advertiser]}/{rng.choice(self._children(home[advertiser]))}"
            else:
                leaf = rng.choice(self.leaves).path
            ads.append(
                Ad(
                    ad_id=f"ad-{index:05d}",
                    advertiser_id=f"adv-{advertiser:03d}",
                    category=leaf,
                    bid=round(rng.lognormvariate(0.0, 0.5), 2),
                    base_logit=quality[advertiser] + rng.gauss(0.0, 0.6),
                )
            )
        return tuple(ads)

    @staticmethod
    def _children(category_path: str) -> tuple[str, ...]:
        vertical, category = category_path.split("/")
        return TAXONOMY[vertical][category]

    def ad(self, ad_id: str) -> Ad:
        """The ad with this id; raises ``KeyError`` for an unknown id."""
        return self._ads_by_id[ad_id]

    def next_query(self, ts_ms: int) -> tuple[dict[str, Any], QueryTruth]:
        """The next query event (a contract map) and its hidden truth.

        Parameters
        ----------
        ts_ms
            Event time in milliseconds since the epoch; it also sets the hour of day (UTC).

        Returns
        -------
        tuple
            The event built with :func:`streams.contracts.query`, and its :class:`QueryTruth`.
        """
        rng = self._rng
        event_id = f"q-{self.seed}-{self._n_queries}"
        self._n_queries += 1
        user = self.users[rng.randrange(len(self.users))]
        favourite = rng.random() < 0.7
        leaf = self.leaves[rng.choice(user.favourites) if favourite else self._popular_leaf(rng)]
        device = user.device if rng.random() < 0.8 else rng.choice(DEVICES)
        region = user.region if rng.random() < 0.9 else rng.choice(REGIONS)
        hour = ts_ms // 3_600_000 % 24
        ads = self._candidates(rng, leaf)
        event = contracts.query(
            event_id=event_id,
            ts=ts_ms,
            user_id=user.user_id,
            text=self._query_text(rng, leaf),
            context={"device": device, "region": region, "hour": hour, "segment": user.segment},
            candidates=[
                contracts.candidate(
                    ad_id=ad.ad_id, advertiser_id=ad.advertiser_id, category=ad.category, bid=ad.bid
                )
                for ad in ads
            ],
        )
        truth = QueryTruth(
            event_id=event_id,
            user_id=user.user_id,
            leaf=leaf.path,
            segment=user.segment,
            device=device,
            region=region,
            hour=hour,
            candidates=tuple(ad.ad_id for ad in ads),
        )
        return event, truth

    def _query_text(self, rng: random.Random, leaf: Leaf) -> str:
        """2-4 words, mostly from the leaf's vocabulary, each sometimes from a parent's."""
        words = rng.sample(leaf.words, rng.randint(2, 4))
        for i in range(len(words)):
            if rng.random() < 0.25:
                parent = leaf.vertical if rng.random() < 0.3 else f"{leaf.vertical}/{leaf.category}"
                words[i] = rng.choice(self.vocabulary[parent])
        return " ".join(dict.fromkeys(words))

    def _candidates(self, rng: random.Random, leaf: Leaf) -> list[Ad]:
        """5-20 distinct ads: ~40 % from the leaf, ~30 % from its category, the rest anywhere."""
        count = rng.randint(5, 20)
        same_leaf = self._ads_by_leaf[leaf.path]
        siblings = self._ads_by_category[f"{leaf.vertical}/{leaf.category}"]
        chosen = rng.sample(same_leaf, min(len(same_leaf), max(1, round(0.4 * count))))
        chosen += rng.sample(siblings, min(len(siblings), round(0.3 * count)))
        picked = {ad.ad_id: ad for ad in chosen}
        while len(picked) < count:
            ad = self.ads[rng.randrange(len(self.ads))]
            picked.setdefault(ad.ad_id, ad)
        ads = list(picked.values())
        rng.shuffle(ads)
        return ads

    def click_probability(self, truth: QueryTruth, ad: Ad, position: int) -> float:
        """The hidden probability that ``ad`` shown at ``position`` for this query is clicked.

        Category match dominates (same leaf >> same category > same vertical > none); user
        segment x ad vertical, device, hour of day and the ad's base propensity shift the logit;
        the chance the ad is looked at decays with its position.
        """
        vertical = ad.category.split("/", 1)[0]
        logit = (
            _BASE_LOGIT
            + _MATCH_LOGIT[_shared_levels(truth.leaf, ad.category)]
            + self.affinity[truth.segment, vertical]
            + _DEVICE_LOGIT[truth.device]
            + _HOUR_AMPLITUDE * math.cos(2.0 * math.pi * (truth.hour - 21) / 24.0)
            + ad.base_logit
        )
        return _sigmoid(logit) * (1.0 + position) ** -_POSITION_DECAY

    @staticmethod
    def click_delay_s(rng: random.Random) -> float:
        """A click's delay after its impression: lognormal, median 4 s, ~4 % over 30 s."""
        return rng.lognormvariate(math.log(_DELAY_MEDIAN_S), _DELAY_SIGMA)
