"""Event producers: the simulated search-ads world, its Kafka front-end, a synchronous client."""

from producers.client import EventClient
from producers.simulator import ChangeCallback, SimulationStats, Simulator
from producers.world import Ad, QueryTruth, World, WorldChange
from streams.contracts import InvalidEvent

__all__ = [
    "Ad",
    "ChangeCallback",
    "EventClient",
    "InvalidEvent",
    "QueryTruth",
    "SimulationStats",
    "Simulator",
    "World",
    "WorldChange",
]
