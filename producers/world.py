"""A seeded search-ads world: taxonomy, users, ads, queries, hidden click propensity and quality.

Pure and deterministic: no I/O and no clock (time comes in as ``ts_ms``), every draw from a
``random.Random`` seeded by the world's seed. The simulator publishes the queries this world
makes and asks it, with the hidden :class:`QueryTruth`, how likely a shown ad is to be clicked
and how good it is for the searcher (:meth:`World.quality`).

>>> world = World(seed=7)
>>> event, truth = world.next_query(ts_ms=1_700_000_000_000)
>>> event["event_id"], event["query"], truth.leaf
('q-7-0', 'vuril ligetek peba rodako', 'travel/flights/domestic')
>>> event == World(seed=7).next_query(ts_ms=1_700_000_000_000)[0]
True
>>> 5 <= len(event["candidates"]) <= 20
True

Clicks and quality are two objectives that only partly agree. Both reward an ad that matches
the query's category, but some advertisers write clickbait: their ads are clicked more and are
worth less. Ranking by clicks alone shows them; weighting quality trades clicks for quality.

>>> ad = world.ad(truth.candidates[0])
>>> 0.0 <= world.quality(truth, ad) <= 1.0
True
>>> world.quality(truth, ad) == World(seed=7).quality(truth, ad)
True

The world can change while it runs: a launched leaf has its own words and ads and is queried
from then on; a retired leaf is queried no more and its ads leave every candidate set.

>>> path = world.new_leaf_path()
>>> world.launch_leaf(path)
>>> path in world.leaf_paths, len(world.ads)
(True, 2040)
>>> world.retire_leaf(path)
>>> path in world.leaf_paths, len(world.ads)
(False, 2000)
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import random
from typing import Any, Literal

from streams.wire import contracts

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
    "WorldChange",
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
#: a user's browser, on the wire as ``context.browser``: it changes no click nor rating
BROWSERS = ("chrome", "safari", "firefox", "edge")
#: What a world with ``extra_attributes`` puts on the wire beyond the built-in features' needs,
#: as ``(source, name)`` of a feature spec's attributes.
EXTRA_ATTRIBUTES = frozenset({("context", "browser"), ("candidate", "landing_page_score")})

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_WORDS_PER_LEVEL = {1: 3, 2: 4, 3: 6}  # vertical, category, leaf

# Hidden click model (logits): the best candidate at position 0 is clicked ~10 % of the time,
# a random candidate ~3 %.
_BASE_LOGIT = -3.3
_MATCH_LOGIT = {3: 0.0, 2: -1.3, 1: -2.0, 0: -2.8}  # path levels shared by query and ad
_DEVICE_LOGIT = {"desktop": 0.1, "mobile": 0.0, "tablet": -0.15}
_HOUR_AMPLITUDE = 0.25  # evening peak at 21:00 UTC
_POSITION_DECAY = 0.8  # examination probability (1 + position) ** -decay

# Hidden quality (logits), drawn from their own seeded streams so that a seed's queries,
# candidate sets and bids are those it made before quality existed. An advertiser has a merit;
# an ad's quality logit is its advertiser's merit plus noise. A share of the advertisers writes
# clickbait: their ads' click logit is raised and their quality logit lowered, so quality is
# only weakly correlated with click propensity. A query-ad pair loses quality with every level
# of the category path the two do not share.
_MERIT_MEAN = 0.8
_MERIT_SD = 0.7
_AD_QUALITY_SD = 0.5
_CLICKBAIT_SHARE = 0.15
_CLICKBAIT_CLICK_LOGIT = 0.7
_CLICKBAIT_QUALITY_LOGIT = -2.0
_QUALITY_MATCH_LOGIT = {3: 0.0, 2: -1.0, 1: -1.8, 0: -2.5}

# Runtime changes. A launched leaf has the popularity weight of the third most popular leaf
# (1/3 against the 45 base leaves' 4.39): about 7 % of all queries, while the base leaves keep
# their relative shares. Its ads: 40, half from 3 new advertisers, half from advertisers at home
# in its category (any advertiser if the category is new).
_LAUNCH_WEIGHT = 1.0 / 3.0
_ADS_PER_LAUNCH = 40
_NEW_ADVERTISERS_PER_LAUNCH = 3
_NEW_ADVERTISER_SHARE = 0.5
#: Fresh paths that :meth:`World.new_leaf_path` suggests first, in a seeded order.
_SUGGESTED_PATHS = (
    "electronics/wearables/smartwatches",
    "electronics/phones/foldables",
    "electronics/audio/earbuds",
    "travel/rentals/scooters",
    "travel/flights/charter",
    "fashion/shoes/sneakers",
    "home/kitchen/airfryers",
    "home/energy/solar",
    "finance/crypto/wallets",
    "health/fitness/trackers",
)

# Drift: tastes change abruptly. Every segment's affinity for each vertical is drawn afresh,
# twice as spread, and every click logit rises by _DRIFT_LOGIT (about 1.7x the clicks).
_DRIFT_AFFINITY_SD = 1.2
_DRIFT_LOGIT = 0.6

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
    browser: str
    favourites: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Ad:
    """An ad in one leaf. Hidden, never put on the wire: ``base_logit``, its click propensity;
    ``quality_logit``, its quality for a query of its own leaf; ``clickbait``, whether its
    advertiser writes clickbait (already counted in both logits). On the wire, among its
    ``attributes``: ``landing_page_score``, its click propensity before clickbait, rounded
    (a numeric feature that tells new ads apart)."""

    ad_id: str
    advertiser_id: str
    category: str
    bid: float
    base_logit: float
    quality_logit: float = 0.0
    clickbait: bool = False
    landing_page_score: float = 0.0


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


@dataclasses.dataclass(frozen=True, slots=True)
class WorldChange:
    """A scheduled change of the world: launch or retire the leaf ``path`` at ``at_s``.

    ``at_s`` counts seconds from the start of traffic (see :class:`producers.Simulator`).
    """

    at_s: float
    kind: Literal["launch", "retire"]
    path: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.at_s) and self.at_s >= 0):
            raise ValueError(f"at_s must be a finite number >= 0, got {self.at_s!r}")
        if self.kind not in ("launch", "retire"):
            raise ValueError(f"kind must be 'launch' or 'retire', got {self.kind!r}")
        _check_leaf_path(self.path)


def _check_leaf_path(path: str) -> None:
    if not contracts.is_category_path(path) or path.count("/") != 2:
        raise ValueError(f"a leaf path is vertical/category/leaf in lower case, got {path!r}")


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

    The world may change at runtime (:meth:`launch_leaf`, :meth:`retire_leaf`); the same seed
    and the same sequence of calls make the same queries.

    Parameters
    ----------
    seed
        Seeds every random draw; two worlds with the same seed make the same queries.
    n_users
        Number of users.
    n_ads
        Number of ads at the start.
    n_advertisers
        Number of advertisers at the start; each concentrates its ads in one category.
    click_logit_shift
        Added to every click logit: -4.0 makes clicks rare (a base rate near 0.1 %).
    extra_attributes
        Also put on the wire what only a configured feature set reads
        (:data:`EXTRA_ATTRIBUTES`): the user's browser in the context, an ad's landing-page
        score among its attributes. They are drawn from no generator: the same seed makes the
        same queries, clicks and ratings either way.

    Attributes
    ----------
    leaves
        The current leaves: the taxonomy's, then launched ones, without the retired.
    ads
        The ads of the current leaves, the pool candidate sets are drawn from.
    vocabulary
        Words of every taxonomy node ever known, keyed by path at each of the three levels.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        n_users: int = 5_000,
        n_ads: int = 2_000,
        n_advertisers: int = 200,
        click_logit_shift: float = 0.0,
        extra_attributes: bool = False,
    ) -> None:
        self.seed = seed
        self.extra_attributes = extra_attributes
        self.click_logit_shift = click_logit_shift
        self._n_drifts = 0
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
        self._base_leaves = self.leaves  # users' favourites index these
        self._base_weights = [1.0 / (rank + 1) for rank in range(len(self.leaves))]
        self._leaf_weights = list(itertools.accumulate(self._base_weights))
        self.users = tuple(self._make_user(rng, i) for i in range(n_users))
        self._advertiser_home: list[str] = []
        self._advertiser_appeal: list[float] = []  # click logit of the advertiser's ads
        self._advertiser_merit: list[float] = []  # quality logit of the advertiser's ads
        self._advertiser_clickbait: list[bool] = []
        self.ads = self._make_ads(rng, random.Random(f"{seed}:quality"))
        self._ads_by_id = {ad.ad_id: ad for ad in self.ads}
        self._ads_by_leaf: dict[str, list[Ad]] = {leaf.path: [] for leaf in self.leaves}
        self._ads_by_category: dict[str, list[Ad]] = {}
        for ad in self.ads:
            self._ads_by_leaf[ad.category].append(ad)
            self._ads_by_category.setdefault(ad.category.rsplit("/", 1)[0], []).append(ad)
        self._launched: list[Leaf] = []
        self._retired: set[str] = set()
        self._launch_share = 0.0
        self._rng = random.Random(f"{seed}:queries")
        self._n_queries = 0

    def _popular_leaf(self, rng: random.Random) -> int:
        """A base leaf index drawn from a Zipf-like popularity over the (unretired) leaves."""
        point = rng.random() * self._leaf_weights[-1]
        return bisect.bisect_right(self._leaf_weights, point)

    def _make_user(self, rng: random.Random, index: int) -> User:
        return User(
            user_id=f"u-{index:05d}",
            segment=rng.choice(SEGMENTS),
            region=rng.choice(REGIONS),
            device=rng.choices(DEVICES, weights=(6, 3, 1))[0],
            browser=BROWSERS[index % len(BROWSERS)],  # drawn from no generator: the seed's order
            favourites=tuple(self._popular_leaf(rng) for _ in range(3)),
        )

    def _add_advertiser_traits(self, quality_rng: random.Random, count: int) -> None:
        """Hidden merit and clickbait trait of ``count`` new advertisers."""
        for _ in range(count):
            self._advertiser_merit.append(quality_rng.gauss(_MERIT_MEAN, _MERIT_SD))
            self._advertiser_clickbait.append(quality_rng.random() < _CLICKBAIT_SHARE)

    def _make_ad(
        self,
        rng: random.Random,
        quality_rng: random.Random,
        *,
        index: int,
        advertiser: int,
        leaf: str,
    ) -> Ad:
        clickbait = self._advertiser_clickbait[advertiser]
        bid = round(rng.lognormvariate(0.0, 0.5), 2)  # bid, then click logit: the seed's order
        base_logit = self._advertiser_appeal[advertiser] + rng.gauss(0.0, 0.6)
        quality_logit = self._advertiser_merit[advertiser] + quality_rng.gauss(0.0, _AD_QUALITY_SD)
        return Ad(
            ad_id=f"ad-{index:05d}",
            advertiser_id=f"adv-{advertiser:03d}",
            category=leaf,
            bid=bid,
            base_logit=base_logit + (_CLICKBAIT_CLICK_LOGIT if clickbait else 0.0),
            quality_logit=quality_logit + (_CLICKBAIT_QUALITY_LOGIT if clickbait else 0.0),
            clickbait=clickbait,
            landing_page_score=round(_sigmoid(base_logit), 2),
        )

    def _make_ads(self, rng: random.Random, quality_rng: random.Random) -> tuple[Ad, ...]:
        categories = sorted({leaf.path.rsplit("/", 1)[0] for leaf in self.leaves})
        home = [rng.choice(categories) for _ in range(self.n_advertisers)]
        self._advertiser_home += home
        self._advertiser_appeal += [rng.gauss(0.0, 0.5) for _ in range(self.n_advertisers)]
        self._add_advertiser_traits(quality_rng, self.n_advertisers)
        ads = []
        for index in range(self.n_ads):
            advertiser = rng.randrange(self.n_advertisers)
            if rng.random() < 0.85:
                leaf = f"{home[advertiser]}/{rng.choice(self._children(home[advertiser]))}"
            else:
                leaf = rng.choice(self.leaves).path
            ads.append(
                self._make_ad(rng, quality_rng, index=index, advertiser=advertiser, leaf=leaf)
            )
        return tuple(ads)

    @staticmethod
    def _children(category_path: str) -> tuple[str, ...]:
        vertical, category = category_path.split("/")
        return TAXONOMY[vertical][category]

    # ----------------------------------------------------------------------- runtime changes

    @property
    def leaf_paths(self) -> tuple[str, ...]:
        """Paths of the current leaves, in the order of :attr:`leaves`."""
        return tuple(leaf.path for leaf in self.leaves)

    def new_leaf_path(self) -> str:
        """A leaf path this world has never had, to launch; the same answer until it changes.

        A plausible name (``electronics/wearables/smartwatches``, ...) picked in an order set
        by the seed; once those are used, a made-up leaf under a seeded existing category.
        """
        rng = random.Random(f"{self.seed}:new-leaf:{len(self._ads_by_leaf)}")
        fresh = [path for path in _SUGGESTED_PATHS if path not in self._ads_by_leaf]
        if fresh:
            return rng.choice(fresh)
        categories = sorted({path.rsplit("/", 1)[0] for path in self._ads_by_leaf})
        category = rng.choice(categories)
        while True:
            (name,) = _make_words(rng, 1, set())
            if f"{category}/{name}" not in self._ads_by_leaf:
                return f"{category}/{name}"

    def apply(self, change: WorldChange) -> None:
        """Launch or retire ``change.path``."""
        if change.kind == "launch":
            self.launch_leaf(change.path)
        else:
            self.retire_leaf(change.path)

    def launch_leaf(self, path: str) -> None:
        """Add a new leaf ``vertical/category/leaf`` and query it from now on.

        The leaf gets words of its own (and its vertical and category too, when they are new;
        drawn from the seed and the path, avoiding every word already in use), 40 ads with new
        ids and, for a new vertical, a segment affinity of its own, so the hidden click model
        treats it like any other leaf. It is as popular as the third most popular leaf: about
        7 % of the queries.

        Raises
        ------
        ValueError
            If ``path`` is not a three-level path, or this world has (or had) that leaf.
        """
        _check_leaf_path(path)
        if path in self._ads_by_leaf:
            raise ValueError(f"leaf {path!r} exists or was retired; launch a new path")
        rng = random.Random(f"{self.seed}:launch:{path}")
        vertical, category, _ = path.split("/")
        taken = {word for words in self.vocabulary.values() for word in words}
        for level, node in enumerate((vertical, f"{vertical}/{category}", path), start=1):
            if node not in self.vocabulary:
                self.vocabulary[node] = _make_words(rng, _WORDS_PER_LEVEL[level], taken)
        for segment in SEGMENTS:
            if (segment, vertical) not in self.affinity:
                self.affinity[segment, vertical] = rng.gauss(0.0, 0.6)
        leaf = Leaf(path, vertical, category, self.vocabulary[path])
        ads = self._launch_ads(rng, random.Random(f"{self.seed}:quality:{path}"), leaf)
        self._ads_by_leaf[path] = ads
        self._ads_by_category.setdefault(f"{vertical}/{category}", []).extend(ads)
        self._ads_by_id.update((ad.ad_id, ad) for ad in ads)
        self._launched.append(leaf)
        self._refresh()

    def _launch_ads(self, rng: random.Random, quality_rng: random.Random, leaf: Leaf) -> list[Ad]:
        """The ads of a new leaf; ids and advertiser ids continue the world's numbering."""
        category = f"{leaf.vertical}/{leaf.category}"
        first_new = len(self._advertiser_appeal)
        for _ in range(_NEW_ADVERTISERS_PER_LAUNCH):
            self._advertiser_home.append(category)
            self._advertiser_appeal.append(rng.gauss(0.0, 0.5))
        self._add_advertiser_traits(quality_rng, _NEW_ADVERTISERS_PER_LAUNCH)
        at_home = [i for i in range(first_new) if self._advertiser_home[i] == category]
        incumbents = at_home or range(first_new)
        ads = []
        for index in range(len(self._ads_by_id), len(self._ads_by_id) + _ADS_PER_LAUNCH):
            if rng.random() < _NEW_ADVERTISER_SHARE:
                advertiser = first_new + rng.randrange(_NEW_ADVERTISERS_PER_LAUNCH)
            else:
                advertiser = rng.choice(incumbents)
            ads.append(
                self._make_ad(rng, quality_rng, index=index, advertiser=advertiser, leaf=leaf.path)
            )
        return ads

    def retire_leaf(self, path: str) -> None:
        """Stop querying the leaf ``path`` and take its ads out of every candidate set.

        Other ads keep their ids; :meth:`ad` still knows the retired ones, for answers to
        queries made before.

        Raises
        ------
        ValueError
            If ``path`` is not a current leaf, or is the last one.
        """
        if path not in self.leaf_paths:
            raise ValueError(f"{path!r} is not a current leaf")
        if len(self.leaves) == 1:
            raise ValueError(f"cannot retire {path!r}: it is the last leaf")
        self._retired.add(path)
        self._launched = [leaf for leaf in self._launched if leaf.path != path]
        category = path.rsplit("/", 1)[0]
        self._ads_by_category[category] = [
            ad for ad in self._ads_by_category[category] if ad.category != path
        ]
        self._refresh()

    def _refresh(self) -> None:
        """Recompute the current leaves, the ad pool and the popularity after a change."""
        base = [leaf for leaf in self._base_leaves if leaf.path not in self._retired]
        self.leaves = (*base, *self._launched)
        self.ads = tuple(ad for ad in self._ads_by_id.values() if ad.category not in self._retired)
        self._leaf_weights = list(
            itertools.accumulate(
                0.0 if leaf.path in self._retired else weight
                for leaf, weight in zip(self._base_leaves, self._base_weights, strict=True)
            )
        )
        launched = _LAUNCH_WEIGHT * len(self._launched)
        self._launch_share = launched / (launched + self._leaf_weights[-1])

    def drift_tastes(self) -> None:
        """Click propensities change abruptly: each segment's affinity for each vertical is
        drawn afresh (from its own seeded stream, twice as spread) and every click logit rises
        by 0.6. Queries, candidates and quality are unchanged."""
        self._n_drifts += 1
        rng = random.Random(f"{self.seed}:drift:{self._n_drifts}")
        self.affinity = {key: rng.gauss(0.0, _DRIFT_AFFINITY_SD) for key in sorted(self.affinity)}
        self.click_logit_shift += _DRIFT_LOGIT

    def _draw_leaf(self, rng: random.Random, user: User) -> Leaf:
        """The leaf of the next query: a launched leaf with its share of the traffic, else
        mostly one of the user's favourites, else a popular one (never a retired leaf)."""
        if self._launch_share and rng.random() < self._launch_share:
            return rng.choice(self._launched)
        favourite = rng.random() < 0.7
        index = rng.choice(user.favourites) if favourite else self._popular_leaf(rng)
        if self._retired and self._base_leaves[index].path in self._retired:
            index = self._popular_leaf(rng)
        return self._base_leaves[index]

    # ----------------------------------------------------------------------- queries and clicks

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
            The event built with :func:`streams.wire.contracts.query`, and its :class:`QueryTruth`.
        """
        rng = self._rng
        event_id = f"q-{self.seed}-{self._n_queries}"
        self._n_queries += 1
        user = self.users[rng.randrange(len(self.users))]
        leaf = self._draw_leaf(rng, user)
        device = user.device if rng.random() < 0.8 else rng.choice(DEVICES)
        region = user.region if rng.random() < 0.9 else rng.choice(REGIONS)
        hour = ts_ms // 3_600_000 % 24
        ads = self._candidates(rng, leaf)
        event = contracts.query(
            event_id=event_id,
            ts=ts_ms,
            user_id=user.user_id,
            text=self._query_text(rng, leaf),
            context=self._context(user, device, region, hour),
            candidates=[self._candidate(ad) for ad in ads],
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

    def _context(self, user: User, device: str, region: str, hour: int) -> dict[str, Any]:
        context = {"device": device, "region": region, "hour": hour, "segment": user.segment}
        if self.extra_attributes:
            context["browser"] = user.browser
        return context

    def _candidate(self, ad: Ad) -> dict[str, Any]:
        extra = {"landing_page_score": ad.landing_page_score} if self.extra_attributes else None
        return contracts.candidate(
            ad_id=ad.ad_id,
            advertiser_id=ad.advertiser_id,
            category=ad.category,
            bid=ad.bid,
            attributes=extra,
        )

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
        count = min(rng.randint(5, 20), len(self.ads))
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
        segment x ad vertical, device, hour of day and the ad's base propensity (raised for
        clickbait) shift the logit; the chance the ad is looked at decays with its position.
        """
        vertical = ad.category.split("/", 1)[0]
        logit = (
            _BASE_LOGIT
            + self.click_logit_shift
            + _MATCH_LOGIT[_shared_levels(truth.leaf, ad.category)]
            + self.affinity[truth.segment, vertical]
            + _DEVICE_LOGIT[truth.device]
            + _HOUR_AMPLITUDE * math.cos(2.0 * math.pi * (truth.hour - 21) / 24.0)
            + ad.base_logit
        )
        return _sigmoid(logit) * (1.0 + position) ** -_POSITION_DECAY

    def quality(self, truth: QueryTruth, ad: Ad) -> float:
        """The hidden quality in [0, 1] of ``ad`` shown for this query, whatever its position.

        The ad's own quality (its advertiser's merit, lowered for clickbait) for a query of its
        leaf; lower with every level of the category path the query and the ad do not share.
        A human rater's label is this value plus noise.
        """
        level = _shared_levels(truth.leaf, ad.category)
        return _sigmoid(ad.quality_logit + _QUALITY_MATCH_LOGIT[level])

    @staticmethod
    def click_delay_s(rng: random.Random) -> float:
        """A click's delay after its impression: lognormal, median 4 s, ~4 % over 30 s."""
        return rng.lognormvariate(math.log(_DELAY_MEDIAN_S), _DELAY_SIGMA)
