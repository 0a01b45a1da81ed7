"""One embedded broker per test module, with its own topic prefix."""

import uuid
from collections.abc import Iterator

import pytest

from streams.broker import broker_for
from streams.settings import Settings


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    with broker_for(Settings(topic_prefix=f"t-{uuid.uuid4().hex[:12]}.")) as ready:
        yield ready
