"""Runtime settings of the streams package, read once from the environment (prefix ``ADSTREAM_``).

>>> s = Settings.from_env({"ADSTREAM_TOPIC_PREFIX": "t1.", "ADSTREAM_PARTITIONS": "2"})
>>> s.topic("queries"), s.partitions
('t1.queries', 2)

A configuration file (``ADSTREAM_CONFIG``, see :mod:`streams.config`) may give base values in
its ``[settings]`` table; ``ADSTREAM_*`` variables override them one by one.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from collections.abc import Mapping
from typing import Any

from streams.wire import keys
from streams.wire.config_file import DEFAULT_CONFIG, read_settings

__all__ = [
    "AGENTS",
    "ENV_PREFIX",
    "RESPONSES",
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "Settings",
    "parse_responses",
]

ENV_PREFIX = "ADSTREAM_"
#: ``ADSTREAM_SECURITY_PROTOCOL``: Kafka's names, understood alike by every client here
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: ``ADSTREAM_SASL_MECHANISM``: those aiokafka (Faust) and librdkafka both speak
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
#: The agents a worker may run (``ADSTREAM_AGENTS``); report and control run everywhere.
AGENTS = ("serve", "rank", "join", "labels", "learn")


#: What a learner may do on its model's alerts (see :mod:`streams.control.responses`).
RESPONSES = ("challenger", "promote", "rollback")


def parse_responses(text: str) -> dict[str, tuple[str, ...]]:
    """The responses per model (``*``: every model not named) of ``ADSTREAM_RESPONSES``:
    ``;``-separated ``model=response,response`` entries (an empty list: alerts only).

    >>> parse_responses("*=challenger,rollback; quality=rollback")
    {'*': ('challenger', 'rollback'), 'quality': ('rollback',)}
    >>> parse_responses("click=")
    {'click': ()}
    >>> parse_responses("click=retrain")
    Traceback (most recent call last):
    ...
    ValueError: unknown response 'retrain' for click; known: challenger, promote, rollback
    """
    config: dict[str, tuple[str, ...]] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        model, equals, names = entry.partition("=")
        if not equals or not model.strip():
            raise ValueError(f"a response entry is model=response,...: {entry!r}")
        responses = tuple(sorted({name.strip() for name in names.split(",") if name.strip()}))
        for response in responses:
            if response not in RESPONSES:
                raise ValueError(
                    f"unknown response {response!r} for {model.strip()}; "
                    f"known: {', '.join(RESPONSES)}"
                )
        config[model.strip()] = responses
    return config


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a worker, the demo or a tool needs to know; units are in the names.

    ``kafka`` is the bootstrap server list of an existing cluster (``ADSTREAM_KAFKA``); when it
    is empty the project starts its embedded broker. Security settings pass through to every
    client; ``sasl_password`` and ``snapshot_key`` are secrets and never printed. With
    ``snapshots`` on (the default), a worker never learns without a snapshot key: see
    :meth:`with_snapshot_key`.
    """

    #: the configuration file (``adstream.toml``: models, features, and base values of these
    #: settings in its ``[settings]`` table); empty: the demo's, shipped with the package
    config: str = ""
    kafka: str = ""
    topic_prefix: str = "adstream."
    app_id: str = "adstream"
    partitions: int = 4
    attribution_window_s: float = 30.0
    join_grace_s: float = 2.0
    metrics_interval_s: float = 1.0
    fetch_max_wait_ms: int = 10
    batch_max: int = 500
    batch_within_ms: int = 5
    #: serving sheds a query whose record is older than this when its turn comes (the
    #: worker's clock less the record's Kafka timestamp; streams.agents.serve): nothing is
    #: published for it, it is counted ``shed`` (0: no deadline)
    serve_deadline_ms: int = 200
    n_bits: int = 20
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = dataclasses.field(default="", repr=False)
    #: PEM file of the certificate authorities that sign the brokers' certificates, for
    #: ``SSL`` and ``SASL_SSL`` (empty: the system's trusted authorities)
    ssl_cafile: str = ""
    #: ``on``: a learner snapshots its models (signed) and restores them after a restart;
    #: ``off``: it learns without snapshots, so a crash or restart loses what it learned
    snapshots: str = "on"
    #: HMAC key of model snapshots; empty: the key file in ``state_dir``, created on first
    #: use (see :meth:`with_snapshot_key`)
    snapshot_key: str = dataclasses.field(default="", repr=False)
    #: where the snapshot key file lives (empty: ``$XDG_STATE_HOME/adstream``, else
    #: ``~/.local/state/adstream``)
    state_dir: str = ""
    snapshot_every_examples: int = 5_000
    snapshot_every_s: float = 30.0
    #: how often Faust commits the offsets of acknowledged inputs
    commit_interval_s: float = 2.8
    #: group session of the learning loop's consumer: a learner that dies is replaced after
    #: about twice this on the embedded broker (a group join waits half of it), which bounds
    #: how soon learning resumes; Kafka refuses less than its
    #: ``group.min.session.timeout.ms`` (6,000 by default). The embedded broker's entry
    #: points lower it (``streams.kafka.broker.EMBEDDED_LEARN_SESSION_MS``)
    learn_session_timeout_ms: int = 6_000
    #: loopback port of the Prometheus ``/metrics`` endpoint (0: none)
    metrics_port: int = 9810
    #: a model that learned nothing for this long while queries are served is ``stale``
    stale_after_s: float = 60.0
    #: examples a model learns before its drift, calibration and no-skill rules apply
    alert_warmup_examples: int = 10_000
    #: the fraction of click negatives the join keeps (the click model recalibrates)
    negative_sampling_rate: float = 1.0
    #: what a model's learner does on its alerts (streams.control.responses): ``;``-separated
    #: ``model=response,...`` entries, ``*`` for every other model
    responses: str = "*=challenger,rollback"
    #: new examples a challenger learns alongside its champion before it retires (or, with
    #: the ``promote`` response, replaces the champion if it predicted them better)
    challenge_examples: int = 20_000
    #: the agents this worker runs, comma-separated (empty: all of them); workers with
    #: different agents form different consumer groups, so each sees every input it reads
    agents: str = ""

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {self.partitions}")
        if self.attribution_window_s <= 0:
            raise ValueError("attribution_window_s must be positive")
        if not 1 <= self.fetch_max_wait_ms <= 500:
            raise ValueError("fetch_max_wait_ms must be in 1..500 (0 returns nothing on Tansu)")
        if not 1_000 <= self.learn_session_timeout_ms <= 300_000:
            raise ValueError("learn_session_timeout_ms must be in 1000..300000")
        if self.serve_deadline_ms < 0:
            raise ValueError(
                f"serve_deadline_ms must be >= 0 (0: no deadline), got {self.serve_deadline_ms}"
            )
        if not 8 <= self.n_bits <= 28:
            raise ValueError("n_bits must be in 8..28")
        if self.snapshots not in ("on", "off"):
            raise ValueError(f"snapshots must be 'on' or 'off', got {self.snapshots!r}")
        if not 0.0 < self.negative_sampling_rate <= 1.0:
            raise ValueError("negative_sampling_rate must be in (0, 1]")
        parse_responses(self.responses)  # raises on an unknown response
        if self.challenge_examples < 1:
            raise ValueError("challenge_examples must be >= 1")
        unknown = self.roles - set(AGENTS)
        if unknown:
            raise ValueError(f"unknown agents {sorted(unknown)}; known: {', '.join(AGENTS)}")
        self._check_security()

    def _check_security(self) -> None:
        """Refuse a security setting that would be ignored or could never connect: a client
        must never fall back to less than was asked for."""
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ValueError(
                f"security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}, "
                f"got {self.security_protocol!r}"
            )
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and self.sasl_mechanism not in SASL_MECHANISMS:
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, one of "
                f"{', '.join(SASL_MECHANISMS)}; got {self.sasl_mechanism!r}"
            )
        if sasl and not self.sasl_username:
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_username")
        if not sasl and self.sasl_mechanism:
            raise ValueError(
                f"sasl_mechanism {self.sasl_mechanism} is set but security_protocol is "
                f"{self.security_protocol}: use SASL_SSL (or SASL_PLAINTEXT)"
            )
        if self.ssl_cafile and not self.security_protocol.endswith("SSL"):
            raise ValueError(
                f"ssl_cafile is set but security_protocol is {self.security_protocol}: "
                "use SSL or SASL_SSL"
            )
        if self.ssl_cafile and not os.path.isfile(self.ssl_cafile):
            raise ValueError(f"ssl_cafile {self.ssl_cafile!r} is not a file")

    @property
    def roles(self) -> frozenset[str]:
        """The agents this worker runs."""
        named = {name.strip() for name in self.agents.split(",") if name.strip()}
        return frozenset(named or AGENTS)

    @property
    def group_id(self) -> str:
        """The consumer group (Faust app id): ``app_id``, suffixed by the agents if not all."""
        if self.roles == set(AGENTS):
            return self.app_id
        return f"{self.app_id}-{'+'.join(sorted(self.roles))}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from the configuration file's ``[settings]`` table, then
        ``ADSTREAM_*`` variables, then keyword overrides (each overrides the one before).

        The file is ``overrides["config"]`` if given, else ``ADSTREAM_CONFIG``, else the
        default configuration. Raises :class:`~learners.errors.ConfigError` for a file that
        cannot be read or a ``[settings]`` entry that is not a setting of its type.
        """
        environ = os.environ if environ is None else environ
        path = (
            overrides["config"] if "config" in overrides else environ.get(f"{ENV_PREFIX}CONFIG", "")
        )
        types = {field.name: type(field.default) for field in dataclasses.fields(cls)}
        del types["config"]  # the file is named from outside, never in itself
        values = read_settings(path or DEFAULT_CONFIG, types)
        for field in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None:
                try:
                    values[field.name] = type(field.default)(raw)
                except ValueError as error:  # name the variable, not only the bad literal
                    raise ValueError(f"{ENV_PREFIX}{field.name.upper()}={raw!r}: {error}") from None
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def with_snapshot_key(self, *, create: bool = True) -> Settings:
        """These settings with the snapshot key resolved, as every worker and the CLI use them:
        unchanged with snapshots off or a key given, else the key of the file in
        ``state_dir`` (created first unless ``create`` is false). Raises
        :class:`streams.wire.keys.KeyFileError` when there is no usable key."""
        if self.snapshots == "off" or self.snapshot_key:
            return self
        path = keys.state_dir(self.state_dir) / keys.KEY_FILE
        key = keys.load_or_create_key(path) if create else keys.read_key(path)
        if key is None:
            raise keys.KeyFileError(
                f"no snapshot key: ADSTREAM_SNAPSHOT_KEY is not set and there is no {path} "
                "(a worker creates it when it first starts; share it, or set the variable)"
            )
        return self.replace(snapshot_key=key)

    def topic(self, name: str) -> str:
        """The full name of a logical topic (``queries`` -> ``adstream.queries``)."""
        return self.topic_prefix + name

    def env(self) -> dict[str, str]:
        """These settings as ``ADSTREAM_*`` variables, to hand to a child process."""
        return {
            ENV_PREFIX + field.name.upper(): str(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every Python client (None without TLS): the system's defaults,
        which verify the broker's certificate and host name, trusting ``ssl_cafile`` if set.

        >>> Settings(security_protocol="SSL").ssl_context().check_hostname
        True
        >>> Settings().ssl_context() is None
        True
        """
        if not self.security_protocol.endswith("SSL"):
            return None
        return ssl.create_default_context(cafile=self.ssl_cafile or None)

    def client_security(self) -> dict[str, Any]:
        """Security keyword arguments of the aiokafka clients (librdkafka's:
        :func:`streams.kafka.rdkafka.client_config`)."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.sasl_mechanism:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return options
