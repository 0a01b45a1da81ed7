"""Streams settings (read from ``ADSTREAM_*``, validated, frozen, secret-safe) and topic specs."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learners.errors import ConfigError
from streams.wire.keys import KeyFileError
from streams.wire.settings import AGENTS, ENV_PREFIX, Settings
from streams.wire.topics import TRAFFIC_TOPICS, topic_specs

ALL_TOPICS = {
    "queries",
    "predictions",
    "rankings",
    "impressions",
    "clicks",
    "query-labels",
    "ratings",
    "examples",
    "metrics",
    "alerts",
    "dead-letter",
    "models",
    "control",
}


def test_defaults_without_any_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.kafka == "" and settings.topic_prefix == "adstream."
    assert settings.partitions == 4 and settings.n_bits == 20
    assert settings.topic("queries") == "adstream.queries"


def test_from_env_parses_each_field_to_its_type() -> None:
    settings = Settings.from_env(
        {
            "ADSTREAM_KAFKA": "broker-1:9092,broker-2:9092",
            "ADSTREAM_TOPIC_PREFIX": "t7.",
            "ADSTREAM_PARTITIONS": "12",
            "ADSTREAM_ATTRIBUTION_WINDOW_S": "2.5",
            "ADSTREAM_FETCH_MAX_WAIT_MS": "50",
            "ADSTREAM_N_BITS": "18",
            "PARTITIONS": "99",  # no prefix: not ours
            "ADSTREAM_UNKNOWN": "x",  # not a field: ignored
        }
    )
    assert settings.kafka == "broker-1:9092,broker-2:9092"
    assert settings.topic_prefix == "t7."
    assert settings.partitions == 12 and type(settings.partitions) is int
    assert settings.attribution_window_s == 2.5 and type(settings.attribution_window_s) is float
    assert settings.fetch_max_wait_ms == 50
    assert settings.n_bits == 18
    assert settings.topic("clicks") == "t7.clicks"


def test_keyword_overrides_win_over_the_environment() -> None:
    settings = Settings.from_env({"ADSTREAM_PARTITIONS": "12"}, partitions=3, app_id="x")
    assert settings.partitions == 3 and settings.app_id == "x"


def test_from_env_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADSTREAM_PARTITIONS", "7")
    monkeypatch.setenv("ADSTREAM_TOPIC_PREFIX", "proc.")
    settings = Settings.from_env()
    assert settings.partitions == 7 and settings.topic_prefix == "proc."


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("ADSTREAM_PARTITIONS", "0", "partitions"),
        ("ADSTREAM_ATTRIBUTION_WINDOW_S", "0", "attribution_window_s"),
        ("ADSTREAM_ATTRIBUTION_WINDOW_S", "-1.5", "attribution_window_s"),
        ("ADSTREAM_FETCH_MAX_WAIT_MS", "0", "fetch_max_wait_ms"),
        ("ADSTREAM_FETCH_MAX_WAIT_MS", "501", "fetch_max_wait_ms"),
        ("ADSTREAM_N_BITS", "7", "n_bits"),
        ("ADSTREAM_N_BITS", "29", "n_bits"),
    ],
)
def test_out_of_range_values_are_rejected_naming_the_field(
    variable: str, value: str, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        Settings.from_env({variable: value})
    with pytest.raises(ValueError, match=field):
        Settings().replace(**{field: type(getattr(Settings(), field))(value)})


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ADSTREAM_PARTITIONS", "four"), ("ADSTREAM_PARTITIONS", "2.0"), ("ADSTREAM_N_BITS", "")],
)
def test_unparseable_values_are_rejected(variable: str, value: str) -> None:
    with pytest.raises(ValueError):
        Settings.from_env({variable: value})


def test_limits_are_inclusive() -> None:
    for changes in ({"fetch_max_wait_ms": 1}, {"fetch_max_wait_ms": 500}, {"n_bits": 8}):
        assert Settings(**changes)  # type: ignore[arg-type]
    assert Settings(n_bits=28, partitions=1).n_bits == 28


def test_env_round_trips_through_from_env() -> None:
    settings = Settings(
        kafka="k:9092",
        topic_prefix="rt.",
        partitions=3,
        attribution_window_s=0.1,
        join_grace_s=0.3,
        n_bits=16,
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="me",
        sasl_password="s3cret",
    )
    env = settings.env()
    assert all(name.startswith(ENV_PREFIX) for name in env)
    assert all(type(value) is str for value in env.values())
    assert set(env) == {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    assert Settings.from_env(env) == settings


@given(
    partitions=st.integers(1, 1024),
    window=st.floats(min_value=1e-3, max_value=1e6, allow_nan=False),
    grace=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    fetch=st.integers(1, 500),
    n_bits=st.integers(8, 28),
    prefix=st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=20),
)
def test_env_round_trip_for_any_valid_settings(
    partitions: int, window: float, grace: float, fetch: int, n_bits: int, prefix: str
) -> None:
    settings = Settings(
        partitions=partitions,
        attribution_window_s=window,
        join_grace_s=grace,
        fetch_max_wait_ms=fetch,
        n_bits=n_bits,
        topic_prefix=prefix,
    )
    assert Settings.from_env(settings.env()) == settings


def test_replace_returns_a_new_object_and_leaves_the_original() -> None:
    original = Settings()
    changed = original.replace(partitions=8, topic_prefix="r.")
    assert (changed.partitions, changed.topic_prefix) == (8, "r.")
    assert (original.partitions, original.topic_prefix) == (4, "adstream.")
    with pytest.raises(TypeError):
        original.replace(no_such_field=1)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.partitions = 9  # type: ignore[misc]


def test_sasl_password_never_appears_in_repr_or_str() -> None:
    settings = Settings.from_env(
        {"ADSTREAM_SASL_PASSWORD": "hunter2-s3cret", "ADSTREAM_SASL_USERNAME": "svc"}
    )
    assert settings.sasl_password == "hunter2-s3cret"
    assert "hunter2-s3cret" not in repr(settings)
    assert "hunter2-s3cret" not in str(settings)
    assert "svc" in repr(settings)


def test_client_security_passes_sasl_only_when_configured() -> None:
    assert Settings().client_security() == {"security_protocol": "PLAINTEXT"}
    settings = Settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        sasl_password="p",
    )
    options = settings.client_security()
    assert isinstance(options.pop("ssl_context"), ssl.SSLContext)
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "u",
        "sasl_plain_password": "p",
    }
    sasl_plaintext = settings.replace(security_protocol="SASL_PLAINTEXT").client_security()
    assert "ssl_context" not in sasl_plaintext


#: a self-signed CA certificate (public, its key thrown away): ADSTREAM_SSL_CAFILE's content
_CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBljCCAT2gAwIBAgIUSpL9hIhjA1LZM91G9Jwoh7RRuuUwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVYWRzdHJlYW0gdW5pdC10ZXN0IENBMCAXDTI2MTIwNzE3MTAw
OFoYDzIxMjYxMTEzMTcxMDA4WjAgMR4wHAYDVQQDDBVhZHN0cmVhbSB1bml0LXRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQRP3cGVl8157REnWxJaO3M
zbG23tpl8XT38fI15F63W/h/wB3LeN9dHMCyYMXogIyD4i01Ur9qYMjBcsNsReRd
o1MwUTAdBgNVHQ4EFgQUw8NPejOWebtHnk6pha6oE6gCPO8wHwYDVR0jBBgwFoAU
w8NPejOWebtHnk6pha6oE6gCPO8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNHADBEAiAuOVKjW4+wzhgLWaKLwSsHoFdSgpU6XiBc6sEodbwAjwIgEiwnagOT
Dfq8nTOmUs/47TZIqXHuDdI8Sifl626kSWo=
-----END CERTIFICATE-----
"""


def test_ssl_cafile_is_trusted_by_the_python_clients(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text(_CA_PEM)
    settings = Settings.from_env(
        {"ADSTREAM_SECURITY_PROTOCOL": "SSL", "ADSTREAM_SSL_CAFILE": str(cafile)}
    )
    assert settings.ssl_cafile == str(cafile)
    context = settings.client_security()["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        ((("commonName", "adstream unit-test CA"),),)
    ]
    assert Settings.from_env(settings.env()) == settings


@pytest.mark.parametrize(
    ("given", "refusal"),
    [
        ({"security_protocol": "TLS"}, "security_protocol must be one of"),
        ({"security_protocol": "ssl"}, "security_protocol must be one of"),
        ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "needs sasl_mechanism"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "sasl_username": "u"},
            "needs sasl_mechanism",
        ),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}, "needs sasl_username"),
        ({"sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "u"}, "use SASL_SSL"),
        ({"ssl_cafile": "/etc/hostname"}, "use SSL or SASL_SSL"),
        ({"security_protocol": "SSL", "ssl_cafile": "/no/such/ca.pem"}, "is not a file"),
    ],
)
def test_security_settings_that_would_be_ignored_or_never_connect_are_refused(
    given: dict[str, str], refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        Settings(**given)


# --------------------------------------------------------------------------- topics


def test_topic_specs_cover_every_topic_with_the_prefix() -> None:
    specs = topic_specs(Settings(topic_prefix="p1.", partitions=6))
    assert set(specs) == ALL_TOPICS
    for logical, spec in specs.items():
        assert spec.name == "p1." + logical


def test_traffic_topics_scale_with_partitions_and_the_rest_have_one() -> None:
    specs = topic_specs(Settings(partitions=6))
    for logical, spec in specs.items():
        assert spec.partitions == (6 if logical in TRAFFIC_TOPICS else 1), logical
    assert set(TRAFFIC_TOPICS) == {
        "queries",
        "predictions",
        "rankings",
        "impressions",
        "clicks",
        "query-labels",
        "ratings",
        "examples",
    }


def test_only_models_and_control_are_compacted() -> None:
    specs = topic_specs(Settings())
    compacted = {logical for logical, spec in specs.items() if spec.compacted}
    assert compacted == {"models", "control"}
    for logical, spec in specs.items():
        expected = {"cleanup.policy": "compact"} if logical in compacted else {}
        assert spec.config == expected, logical


def test_a_worker_runs_every_agent_unless_told_which() -> None:
    everything = Settings()
    assert everything.roles == set(AGENTS) and everything.group_id == "adstream"
    serving = Settings(agents="serve, rank")
    assert serving.roles == {"serve", "rank"}
    assert serving.group_id == "adstream-rank+serve"  # its own group: it sees every query
    assert Settings(agents="learn,join").group_id == Settings(agents="join,learn").group_id
    with pytest.raises(ValueError, match="unknown agents \\['sever'\\]"):
        Settings(agents="sever,rank")


# --------------------------------------------------------------------------- snapshots


def test_snapshots_are_on_unless_turned_off_explicitly() -> None:
    assert Settings().snapshots == "on"
    assert Settings.from_env({"ADSTREAM_SNAPSHOTS": "off"}).snapshots == "off"
    for wrong in ("", "OFF", "no", "false", "0"):
        with pytest.raises(ValueError, match=f"snapshots must be 'on' or 'off', got {wrong!r}"):
            Settings.from_env({"ADSTREAM_SNAPSHOTS": wrong})


def test_without_a_key_the_state_dir_key_is_created_once_and_reused(tmp_path) -> None:
    settings = Settings(state_dir=str(tmp_path / "state"))
    with pytest.raises(KeyFileError, match="no snapshot key: ADSTREAM_SNAPSHOT_KEY is not set"):
        settings.with_snapshot_key(create=False)  # the CLI reads a key, never makes one
    resolved = settings.with_snapshot_key()
    key = (tmp_path / "state" / "snapshot.key").read_text().strip()
    assert resolved.snapshot_key == key and len(key) == 64
    assert resolved.replace(snapshot_key="") == settings
    assert settings.with_snapshot_key().snapshot_key == resolved.snapshot_key
    assert settings.with_snapshot_key(create=False).snapshot_key == resolved.snapshot_key
    assert Settings.from_env(resolved.env()) == resolved  # a child process gets the same key
    assert key not in repr(resolved) and key not in str(resolved)


def test_a_given_key_or_snapshots_off_leave_the_state_dir_alone(tmp_path) -> None:
    given = Settings(snapshot_key="from-a-secret-store", state_dir=str(tmp_path))
    assert given.with_snapshot_key() is given
    off = Settings(snapshots="off", state_dir=str(tmp_path))
    assert off.with_snapshot_key() is off and off.snapshot_key == ""
    assert list(tmp_path.iterdir()) == []


def test_an_app_is_never_built_with_snapshots_on_and_no_key() -> None:
    from streams.worker.compose import create_app

    with pytest.raises(ValueError, match="with_snapshot_key"):
        create_app(Settings(kafka="127.0.0.1:9"))
    assert create_app(Settings(kafka="127.0.0.1:9", snapshots="off")).learner.request("click") == (
        "snapshots are off on this worker (ADSTREAM_SNAPSHOTS=off)"
    )
    ctx = create_app(Settings(kafka="127.0.0.1:9", snapshot_key="k", agents="serve,rank"))
    assert ctx.learner.request("click") == "this worker does not learn (ADSTREAM_AGENTS)"
    ctx = create_app(Settings(kafka="127.0.0.1:9", snapshot_key="k"))
    assert ctx.learner.request("click") == "this worker has not learned click (yet)"


def _config(tmp_path: Path, settings: str) -> str:
    path = tmp_path / "adstream.toml"
    path.write_text(f"[settings]\n{settings}\n")
    return str(path)


def test_the_configuration_file_gives_base_values_env_and_overrides_win(tmp_path: Path) -> None:
    config = _config(tmp_path, 'partitions = 2\nn_bits = 18\ntopic_prefix = "file."')
    environ = {"ADSTREAM_CONFIG": config, "ADSTREAM_N_BITS": "16", "ADSTREAM_PARTITIONS": "3"}
    settings = Settings.from_env(environ, partitions=5)
    assert settings.config == config
    assert settings.topic_prefix == "file."  # the file's
    assert settings.n_bits == 16  # the environment's over the file's
    assert settings.partitions == 5  # the override's over both


def test_a_config_override_names_the_file_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _config(tmp_path / "a", "partitions = 2")
    second = _config(tmp_path / "b", "partitions = 7")
    settings = Settings.from_env({"ADSTREAM_CONFIG": first}, config=second)
    assert (settings.config, settings.partitions) == (second, 7)


def test_the_file_travels_to_child_processes(tmp_path: Path) -> None:
    config = _config(tmp_path, "partitions = 2")
    settings = Settings.from_env({"ADSTREAM_CONFIG": config})
    assert settings.env()["ADSTREAM_CONFIG"] == config
    assert Settings.from_env(settings.env()) == settings


def test_without_a_file_the_default_configuration_applies() -> None:
    assert Settings.from_env({}).config == ""
    assert Settings.from_env({}) == Settings()


def test_a_bad_setting_in_the_file_is_named(tmp_path: Path) -> None:
    config = _config(tmp_path, 'partitions = "two"')
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"ADSTREAM_CONFIG": config})
    assert error.value.field == "settings.partitions"
    assert "expected an integer" in error.value.reason


def test_a_missing_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        Settings.from_env({"ADSTREAM_CONFIG": "/nonexistent/adstream.toml"})
