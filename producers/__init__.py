"""Event producers: the simulated search-ads world, its Kafka front-end, a synchronous client."""

from producers.client import EventClient
from producers.exploration import EpsilonGreedy, Shown
from producers.simulator import ChangeCallback, Simulator
from producers.stats import SimulationStats
from producers.world import Ad, QueryTruth, World, WorldChange
from streams.wire.contracts import InvalidEvent

__all__ = [
    "Ad",
    "ChangeCallback",
    "EpsilonGreedy",
    "EventClient",
    "InvalidEvent",
    "QueryTruth",
    "Shown",
    "SimulationStats",
    "Simulator",
    "World",
    "WorldChange",
]
