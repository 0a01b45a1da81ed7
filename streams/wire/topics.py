"""The topics the system needs: logical name, partitions and cleanup policy (DESIGN §2)."""

from __future__ import annotations

import dataclasses

from streams.wire.settings import Settings

__all__ = ["MAX_MESSAGE_BYTES", "TRAFFIC_TOPICS", "TopicSpec", "topic_specs"]

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # snapshots are large; Tansu accepts 16 MB messages

#: Topics whose partition count scales with traffic (``Settings.partitions``).
TRAFFIC_TOPICS = (
    "queries",
    "predictions",
    "rankings",
    "impressions",
    "clicks",
    "query-labels",
    "ratings",
    "examples",
)
#: Topics with one partition: a total order matters more than throughput.
SINGLE_PARTITION_TOPICS = ("metrics", "alerts", "dead-letter")
#: Latest value per key is what matters: compacted where the broker can.
COMPACTED_TOPICS = ("models", "control")


@dataclasses.dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as the system creates it."""

    name: str
    partitions: int
    compacted: bool = False

    @property
    def config(self) -> dict[str, str]:
        """Topic-level configuration for CreateTopics."""
        return {"cleanup.policy": "compact"} if self.compacted else {}


def topic_specs(settings: Settings) -> dict[str, TopicSpec]:
    """Every topic of the system, by logical name."""
    specs = {name: TopicSpec(settings.topic(name), settings.partitions) for name in TRAFFIC_TOPICS}
    specs.update({name: TopicSpec(settings.topic(name), 1) for name in SINGLE_PARTITION_TOPICS})
    specs.update({name: TopicSpec(settings.topic(name), 1, True) for name in COMPACTED_TOPICS})
    return specs
