"""The settings' secrets masked in every log record a process writes.

At DEBUG the Kafka clients log what they send and how they are set up: aiokafka logs every
request, a SASL PLAIN login's bytes (the password) among them, and a client's configuration
may be logged with its password. :func:`redact_secrets` puts a
:class:`SecretsFilter` on the root logger's handlers, so whatever level a worker or a command
runs at, its log shows ``***`` where a secret was.

>>> import io
>>> out = io.StringIO()
>>> logger = logging.getLogger("redact-example")
>>> handler = logging.StreamHandler(out)
>>> handler.addFilter(SecretsFilter(["hunter2"]))
>>> logger.addHandler(handler)
>>> logger.warning("config %s", {"sasl_plain_password": "hunter2"})
>>> out.getvalue()
"config {'sasl_plain_password': '***'}\\n"
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from streams.wire.settings import Settings

__all__ = ["MASK", "SecretsFilter", "redact_secrets"]

MASK = "***"


class SecretsFilter(logging.Filter):
    """Replaces each of ``secrets`` (the empty ones ignored) in a record's message and in its
    formatted exception with :data:`MASK`; drops nothing."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)

    def _masked(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._masked(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._masked(record.exc_text)
        return True


def redact_secrets(settings: Settings) -> None:
    """Mask ``sasl_password`` and ``snapshot_key`` in what every handler of the root logger
    writes from now on (call it once logging is set up and the snapshot key resolved)."""
    secrets = SecretsFilter([settings.sasl_password, settings.snapshot_key])
    for handler in logging.getLogger().handlers:
        handler.addFilter(secrets)
