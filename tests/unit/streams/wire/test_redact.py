"""Secrets masked in log records, whatever a library logs (streams.wire.redact)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from streams.wire.redact import MASK, SecretsFilter, redact_secrets
from streams.wire.settings import Settings


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test-redact")
    logger.propagate = False
    logger.addHandler(handler)
    yield logger, out, handler
    logger.removeHandler(handler)


def test_a_secret_in_a_message_or_its_arguments_is_masked(logged) -> None:
    logger, out, handler = logged
    handler.addFilter(SecretsFilter(["hunter2-pw", "", "k3y-abc"]))
    # what aiokafka logs of a SASL PLAIN login at DEBUG, and a client of its configuration
    logger.warning("Request 3: SaslAuthenticateRequest(auth_bytes=%r)", b"u\x00u\x00hunter2-pw")
    logger.warning("configuration: %s", {"sasl_plain_password": "hunter2-pw"})
    logger.warning("key k3y-abc, twice: k3y-abc")
    logger.warning("nothing secret: %d", 7)
    assert "hunter2-pw" not in out.getvalue() and "k3y-abc" not in out.getvalue()
    assert out.getvalue().splitlines() == [
        f"WARNING Request 3: SaslAuthenticateRequest(auth_bytes=b'u\\x00u\\x00{MASK}')",
        f"WARNING configuration: {{'sasl_plain_password': '{MASK}'}}",
        f"WARNING key {MASK}, twice: {MASK}",
        "WARNING nothing secret: 7",
    ]


def test_a_secret_in_a_logged_exception_is_masked(logged) -> None:
    logger, out, handler = logged
    handler.addFilter(SecretsFilter(["hunter2-pw"]))
    try:
        raise ValueError("bad password 'hunter2-pw'")
    except ValueError:
        logger.exception("login failed")
    assert "hunter2-pw" not in out.getvalue()
    assert f"ValueError: bad password '{MASK}'" in out.getvalue()


def test_redact_secrets_masks_the_settings_secrets_on_every_root_handler() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redact_secrets(Settings(sasl_password="pw-123456", snapshot_key="key-654321"))
        logging.getLogger("test-redact-root").warning("pw-123456 and key-654321")
    finally:
        root.removeHandler(handler)
    assert out.getvalue() == f"{MASK} and {MASK}\n"
