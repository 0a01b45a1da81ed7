"""Topic creation on the embedded broker with librdkafka's admin client: the partitions and
configuration each spec asks for, and nothing changed when the topics exist already."""

from __future__ import annotations

import uuid

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from streams.kafka.bootstrap import BrokerUnreachable
from streams.kafka.broker import EmbeddedBroker, create_topics, free_port
from streams.wire.settings import Settings
from streams.wire.topics import TopicSpec

pytestmark = pytest.mark.broker


def _specs() -> list[TopicSpec]:
    prefix = f"c{uuid.uuid4().hex[:10]}."
    return [
        TopicSpec(f"{prefix}traffic", 3),
        TopicSpec(f"{prefix}single", 1),
        TopicSpec(f"{prefix}latest", 1, compacted=True),
    ]


def _partitions(admin: AdminClient, names: list[str]) -> dict[str, int]:
    topics = admin.list_topics(timeout=10).topics
    return {name: len(topics[name].partitions) for name in names if name in topics}


def test_topics_are_created_with_their_partitions_and_config_once(
    broker: EmbeddedBroker,
) -> None:
    specs = _specs()
    settings = Settings(kafka=broker.bootstrap)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    create_topics(broker.bootstrap, specs, settings)
    assert _partitions(admin, [s.name for s in specs]) == {s.name: s.partitions for s in specs}
    compacted = ConfigResource(ConfigResource.Type.TOPIC, specs[2].name)
    config = admin.describe_configs([compacted])[compacted].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"

    # again, one spec asking for more partitions: existing topics are left as they are
    create_topics(broker.bootstrap, [TopicSpec(specs[0].name, 5), *specs[1:]], settings)
    assert _partitions(admin, [s.name for s in specs]) == {s.name: s.partitions for s in specs}


def test_no_broker_raises_broker_unreachable_within_the_timeout() -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(BrokerUnreachable, match="Connection refused"):
        create_topics(address, _specs(), Settings(kafka=address), timeout_s=0.5)


def test_records_of_a_new_topic_land_in_its_partitions(broker: EmbeddedBroker) -> None:
    """The partition count the admin client created is the one producers see."""
    (spec, *_) = _specs()
    create_topics(broker.bootstrap, [spec], Settings(kafka=broker.bootstrap))
    producer = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap})
    landed: set[int] = set()
    for key in range(30):
        producer.produce(
            spec.name, b"x", str(key), on_delivery=lambda _, m: landed.add(m.partition())
        )
    assert producer.flush(10) == 0
    assert landed == set(range(spec.partitions))
