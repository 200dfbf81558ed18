"""Settings: defaults, environment (JOBQ_ and plain names), flags, and the errors they give."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from jobq.config import FIELDS, Settings, check_postgres_settings, load_settings
from jobq.domain.errors import ConfigError
from jobq.store import PostgresOptions

DEFAULTS: dict[str, Any] = {
    "database_url": "sqlite:///jobq.db",
    "host": "127.0.0.1",
    "port": 8080,
    "worker_count": 10,
    "queue_capacity": 100,
    "prefetch": "auto",
    "shutdown_timeout": 30.0,
    "lease_seconds": 30.0,
    "poll_interval": 1.0,
    "log_level": "INFO",
    "log_format": "auto",
    "app": None,
    "queues": None,
    "accept_unknown_types": False,
    "insecure": False,
    "metrics_public": False,
    "rate_limit": 100.0,
    "http_allow": None,
    "session_key": None,
    "max_body_bytes": 262_144,
    "max_json_depth": 64,
    "max_page_size": 500,
    "max_header_bytes": 16_384,
    "read_timeout": 10.0,
    "metrics_port": None,
    "allowed_hosts": None,
    "db_pool_size": "auto",
    "db_connect_timeout": 5.0,
    "db_statement_timeout": 30.0,
    "db_pooler": "none",
    "notify": "listen",
    "listen_url": None,
    "retain_succeeded": 86_400.0,
    "retain_cancelled": 604_800.0,
    "retain_dead": 2_592_000.0,
    "prune_interval": 10.0,
}


#: settings with no command-line flag, not given in the environment below
ENV_ONLY = {
    "max_body_bytes", "max_json_depth", "max_page_size", "max_header_bytes", "read_timeout",
    "insecure", "metrics_public", "rate_limit", "http_allow", "session_key",
    "retain_succeeded", "retain_cancelled", "retain_dead", "prune_interval",
}  # fmt: skip


def test_fields_are_pinned() -> None:
    assert set(FIELDS) == set(DEFAULTS)


def test_defaults() -> None:
    loaded = load_settings({})
    for name, value in DEFAULTS.items():
        assert getattr(loaded.settings, name) == value, name
    assert loaded.sources == dict.fromkeys(DEFAULTS, "default")


def test_flags_none_means_not_given() -> None:
    loaded = load_settings({}, dict.fromkeys(DEFAULTS))
    assert loaded.settings.port == 8080
    assert set(loaded.sources.values()) == {"default"}


def test_unrelated_environment_is_ignored() -> None:
    loaded = load_settings({"HOME": "/root", "JOBQ": "x", "jobq_port": "1"})
    assert loaded.settings.port == 8080
    assert loaded.sources["port"] == "default"


@pytest.mark.parametrize(
    ("variable", "text", "name", "value"),
    [
        ("JOBQ_DATABASE_URL", "sqlite:////var/lib/jobq/jobs.db", "database_url",
         "sqlite:////var/lib/jobq/jobs.db"),
        ("JOBQ_HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("JOBQ_PORT", "9000", "port", 9000),
        ("JOBQ_WORKER_COUNT", "0", "worker_count", 0),
        ("JOBQ_QUEUE_CAPACITY", "7", "queue_capacity", 7),
        ("JOBQ_PREFETCH", "0", "prefetch", 0),
        ("JOBQ_PREFETCH", " 12 ", "prefetch", 12),
        ("JOBQ_PREFETCH", "Auto", "prefetch", "auto"),
        ("JOBQ_DB_POOL_SIZE", "0", "db_pool_size", 0),
        ("JOBQ_DB_POOL_SIZE", "AUTO", "db_pool_size", "auto"),
        ("JOBQ_SHUTDOWN_TIMEOUT", "2.5", "shutdown_timeout", 2.5),
        ("JOBQ_LEASE_SECONDS", "0.1", "lease_seconds", 0.1),
        ("JOBQ_POLL_INTERVAL", "0.05", "poll_interval", 0.05),
        ("JOBQ_LOG_LEVEL", "DEBUG", "log_level", "DEBUG"),
        ("JOBQ_LOG_FORMAT", "json", "log_format", "json"),
        ("JOBQ_APP", "myapp.jobs:jq", "app", "myapp.jobs:jq"),
        ("JOBQ_QUEUES", "mail", "queues", ("mail",)),
        ("JOBQ_ACCEPT_UNKNOWN_TYPES", "true", "accept_unknown_types", True),
        ("JOBQ_MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
        ("JOBQ_MAX_JSON_DEPTH", "8", "max_json_depth", 8),
        ("JOBQ_MAX_PAGE_SIZE", "10000", "max_page_size", 10_000),
        ("JOBQ_MAX_HEADER_BYTES", "65536", "max_header_bytes", 65_536),
        ("JOBQ_READ_TIMEOUT", "0.5", "read_timeout", 0.5),
        ("JOBQ_INSECURE", "true", "insecure", True),
        ("JOBQ_METRICS_PUBLIC", "1", "metrics_public", True),
        ("JOBQ_RATE_LIMIT", "0", "rate_limit", 0.0),
        ("JOBQ_HTTP_ALLOW", "api.example.com, *.internal, 10.0.0.5", "http_allow",
         ("api.example.com", "*.internal", "10.0.0.5")),
        ("JOBQ_DB_POOLER", "Transaction", "db_pooler", "transaction"),
        ("JOBQ_NOTIFY", "poll", "notify", "poll"),
        ("JOBQ_LISTEN_URL", "postgresql://jobq@db:5432/jobs", "listen_url",
         "postgresql://jobq@db:5432/jobs"),
    ],
)  # fmt: skip
def test_each_jobq_variable_is_read(variable: str, text: str, name: str, value: Any) -> None:
    loaded = load_settings({variable: text})
    assert getattr(loaded.settings, name) == value
    assert loaded.sources[name] == f"env {variable}"
    others = {k: v for k, v in loaded.sources.items() if k != name}
    assert set(others.values()) == {"default"}


@pytest.mark.parametrize(
    ("plain", "jobq_name", "name"),
    [
        ("PORT", "JOBQ_PORT", "port"),
        ("WORKER_COUNT", "JOBQ_WORKER_COUNT", "worker_count"),
        ("JOB_QUEUE_CAPACITY", "JOBQ_QUEUE_CAPACITY", "queue_capacity"),
    ],
)
def test_plain_names(plain: str, jobq_name: str, name: str) -> None:
    loaded = load_settings({plain: "5"})
    assert getattr(loaded.settings, name) == 5
    assert loaded.sources[name] == f"env {plain}"

    both = load_settings({plain: "5", jobq_name: "6"})
    assert getattr(both.settings, name) == 6
    assert both.sources[name] == f"env {jobq_name}"

    # the JOBQ_ name wins even when it comes first or last in the mapping
    reordered = load_settings({jobq_name: "6", plain: "5"})
    assert getattr(reordered.settings, name) == 6
    assert reordered.sources[name] == f"env {jobq_name}"


def test_plain_name_only_for_three_settings() -> None:
    loaded = load_settings({"HOST": "0.0.0.0", "LOG_LEVEL": "DEBUG", "DATABASE_URL": "x"})
    assert loaded.settings.host == "127.0.0.1"
    assert loaded.settings.log_level == "INFO"
    assert loaded.sources["host"] == "default"


@pytest.mark.parametrize(
    ("name", "flag", "value"),
    [
        ("database_url", "--database-url", "sqlite:///other.db"),
        ("host", "--host", "::1"),
        ("port", "--port", 1234),
        ("worker_count", "--workers", 3),
        ("queue_capacity", "--queue-capacity", 9),
        ("prefetch", "--prefetch", 4),
        ("shutdown_timeout", "--shutdown-timeout", 1.0),
        ("lease_seconds", "--lease-seconds", 5.0),
        ("poll_interval", "--poll-interval", 0.5),
        ("log_level", "--log-level", "ERROR"),
        ("log_format", "--log-format", "console"),
        ("app", "--app", "pkg.mod:queue"),
        ("queues", "--queues", ("a", "b")),
        ("accept_unknown_types", "--accept-unknown-types", True),
        ("metrics_port", "--metrics-port", 9100),
        ("allowed_hosts", "--allowed-hosts", ("jobs.example.com", "10.0.0.5")),
        ("db_pool_size", "--db-pool-size", 3),
        ("db_connect_timeout", "--db-connect-timeout", 1.5),
        ("db_statement_timeout", "--db-statement-timeout", 2.0),
        ("db_pooler", "--db-pooler", "transaction"),
        ("notify", "--notify", "poll"),
        ("listen_url", "--listen-url", "postgresql://flag@db/jobs"),
    ],
)
def test_flags_win_over_env(name: str, flag: str, value: Any) -> None:
    env = {
        "JOBQ_DATABASE_URL": "sqlite:///env.db",
        "JOBQ_HOST": "10.0.0.1",
        "JOBQ_PORT": "1111",
        "JOBQ_WORKER_COUNT": "1",
        "JOBQ_QUEUE_CAPACITY": "1",
        "JOBQ_PREFETCH": "1",
        "JOBQ_SHUTDOWN_TIMEOUT": "9",
        "JOBQ_LEASE_SECONDS": "9",
        "JOBQ_POLL_INTERVAL": "9",
        "JOBQ_LOG_LEVEL": "WARNING",
        "JOBQ_LOG_FORMAT": "json",
        "JOBQ_APP": "env.mod:jq",
        "JOBQ_QUEUES": "envq",
        "JOBQ_ACCEPT_UNKNOWN_TYPES": "false",
        "JOBQ_METRICS_PORT": "9200",
        "JOBQ_ALLOWED_HOSTS": "env.example",
        "JOBQ_DB_POOL_SIZE": "7",
        "JOBQ_DB_CONNECT_TIMEOUT": "9",
        "JOBQ_DB_STATEMENT_TIMEOUT": "9",
        "JOBQ_DB_POOLER": "none",
        "JOBQ_NOTIFY": "listen",
        "JOBQ_LISTEN_URL": "postgresql://env@db/jobs",
    }
    loaded = load_settings(env, {name: value})
    assert getattr(loaded.settings, name) == value
    assert loaded.sources[name] == f"flag {flag}"
    for other in DEFAULTS:
        if other == name:
            continue
        if other in ENV_ONLY:
            assert loaded.sources[other] == "default", other
        else:
            assert loaded.sources[other].startswith("env JOBQ_"), other


def test_flag_false_is_given() -> None:
    loaded = load_settings({"JOBQ_ACCEPT_UNKNOWN_TYPES": "true"}, {"accept_unknown_types": False})
    assert loaded.settings.accept_unknown_types is False
    assert loaded.sources["accept_unknown_types"] == "flag --accept-unknown-types"


def test_flag_zero_is_given() -> None:
    loaded = load_settings({"PORT": "80"}, {"port": 0, "worker_count": 0})
    assert loaded.settings.port == 0
    assert loaded.settings.worker_count == 0
    assert loaded.sources["port"] == "flag --port"
    assert loaded.sources["worker_count"] == "flag --workers"


@pytest.mark.parametrize("text", ["debug", "Debug", "warning", "eRRoR", "INFO"])
def test_log_level_case_insensitive(text: str) -> None:
    assert load_settings({"JOBQ_LOG_LEVEL": text}).settings.log_level == text.upper()
    assert load_settings({}, {"log_level": text}).settings.log_level == text.upper()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a, b", ("a", "b")),
        ("a,b", ("a", "b")),
        (" mail ,  reports.daily ", ("mail", "reports.daily")),
        ("a,,b,", ("a", "b")),
        ("single", ("single",)),
        ("", None),
        (" , ", None),
    ],
)
def test_queues_parsed(text: str, expected: tuple[str, ...] | None) -> None:
    assert load_settings({"JOBQ_QUEUES": text}).settings.queues == expected


@pytest.mark.parametrize("text", ["", None])
def test_empty_app_is_none(text: str | None) -> None:
    env = {} if text is None else {"JOBQ_APP": text}
    assert load_settings(env).settings.app is None


@pytest.mark.parametrize("text", ["true", "1", "yes", "on", "TRUE"])
def test_accept_unknown_types_truthy(text: str) -> None:
    assert load_settings({"JOBQ_ACCEPT_UNKNOWN_TYPES": text}).settings.accept_unknown_types


@pytest.mark.parametrize("text", ["false", "0", "no", "off"])
def test_accept_unknown_types_falsy(text: str) -> None:
    loaded = load_settings({"JOBQ_ACCEPT_UNKNOWN_TYPES": text})
    assert loaded.settings.accept_unknown_types is False


@pytest.mark.parametrize(
    ("env", "flags", "label", "bad"),
    [
        # port
        ({"JOBQ_PORT": "-1"}, None, "JOBQ_PORT", "-1"),
        ({"JOBQ_PORT": "70000"}, None, "JOBQ_PORT", "70000"),
        ({"JOBQ_PORT": "abc"}, None, "JOBQ_PORT", "abc"),
        ({"PORT": "-1"}, None, "PORT", "-1"),
        ({"PORT": "abc"}, None, "PORT", "abc"),
        ({}, {"port": 70000}, "--port", "70000"),
        ({}, {"port": -1}, "--port", "-1"),
        # worker_count
        ({"JOBQ_WORKER_COUNT": "-1"}, None, "JOBQ_WORKER_COUNT", "-1"),
        ({"JOBQ_WORKER_COUNT": "1001"}, None, "JOBQ_WORKER_COUNT", "1001"),
        ({"JOBQ_WORKER_COUNT": "x"}, None, "JOBQ_WORKER_COUNT", "x"),
        ({"WORKER_COUNT": "1001"}, None, "WORKER_COUNT", "1001"),
        ({}, {"worker_count": 1001}, "--workers", "1001"),
        # queue_capacity
        ({"JOBQ_QUEUE_CAPACITY": "0"}, None, "JOBQ_QUEUE_CAPACITY", "0"),
        ({"JOB_QUEUE_CAPACITY": "0"}, None, "JOB_QUEUE_CAPACITY", "0"),
        ({}, {"queue_capacity": 0}, "--queue-capacity", "0"),
        # prefetch
        ({"JOBQ_PREFETCH": "-1"}, None, "JOBQ_PREFETCH", "-1"),
        ({"JOBQ_PREFETCH": "100001"}, None, "JOBQ_PREFETCH", "100001"),
        ({"JOBQ_PREFETCH": "1.5"}, None, "JOBQ_PREFETCH", "1.5"),
        ({"JOBQ_PREFETCH": "automatic"}, None, "JOBQ_PREFETCH", "automatic"),
        ({}, {"prefetch": -2}, "--prefetch", "-2"),
        # shutdown_timeout
        ({"JOBQ_SHUTDOWN_TIMEOUT": "-1"}, None, "JOBQ_SHUTDOWN_TIMEOUT", "-1"),
        ({}, {"shutdown_timeout": -1.0}, "--shutdown-timeout", "-1.0"),
        # lease_seconds
        ({"JOBQ_LEASE_SECONDS": "0"}, None, "JOBQ_LEASE_SECONDS", "0"),
        ({}, {"lease_seconds": 0}, "--lease-seconds", "0"),
        # poll_interval
        ({"JOBQ_POLL_INTERVAL": "0"}, None, "JOBQ_POLL_INTERVAL", "0"),
        ({}, {"poll_interval": 0}, "--poll-interval", "0"),
        # log_level
        ({"JOBQ_LOG_LEVEL": "LOUD"}, None, "JOBQ_LOG_LEVEL", "LOUD"),
        ({}, {"log_level": "LOUD"}, "--log-level", "LOUD"),
        # log_format
        ({"JOBQ_LOG_FORMAT": "xml"}, None, "JOBQ_LOG_FORMAT", "xml"),
        ({}, {"log_format": "xml"}, "--log-format", "xml"),
        # app
        ({"JOBQ_APP": "nocolon"}, None, "JOBQ_APP", "nocolon"),
        ({}, {"app": "nocolon"}, "--app", "nocolon"),
        # queues
        ({"JOBQ_QUEUES": "bad name"}, None, "JOBQ_QUEUES", "bad name"),
        ({"JOBQ_QUEUES": "ok, bad name"}, None, "JOBQ_QUEUES", "bad name"),
        # accept_unknown_types
        ({"JOBQ_ACCEPT_UNKNOWN_TYPES": "maybe"}, None, "JOBQ_ACCEPT_UNKNOWN_TYPES", "maybe"),
        # max_body_bytes
        ({"JOBQ_MAX_BODY_BYTES": "10"}, None, "JOBQ_MAX_BODY_BYTES", "10"),
        # the other request limits
        ({"JOBQ_MAX_JSON_DEPTH": "65"}, None, "JOBQ_MAX_JSON_DEPTH", "65"),
        ({"JOBQ_MAX_JSON_DEPTH": "1"}, None, "JOBQ_MAX_JSON_DEPTH", "1"),
        ({"JOBQ_MAX_PAGE_SIZE": "0"}, None, "JOBQ_MAX_PAGE_SIZE", "0"),
        ({"JOBQ_MAX_HEADER_BYTES": "512"}, None, "JOBQ_MAX_HEADER_BYTES", "512"),
        ({"JOBQ_READ_TIMEOUT": "0"}, None, "JOBQ_READ_TIMEOUT", "0"),
        ({"JOBQ_READ_TIMEOUT": "inf"}, None, "JOBQ_READ_TIMEOUT", "inf"),
        # security
        ({"JOBQ_INSECURE": "perhaps"}, None, "JOBQ_INSECURE", "perhaps"),
        ({"JOBQ_METRICS_PUBLIC": "open"}, None, "JOBQ_METRICS_PUBLIC", "open"),
        ({"JOBQ_RATE_LIMIT": "-1"}, None, "JOBQ_RATE_LIMIT", "-1"),
        ({"JOBQ_SESSION_KEY": "too-short"}, None, "JOBQ_SESSION_KEY", "***"),
        ({"JOBQ_HTTP_ALLOW": "ok.example, http://bad"}, None, "JOBQ_HTTP_ALLOW",
         "ok.example, http://bad"),
        # database_url
        ({"JOBQ_DATABASE_URL": "postgresql://"}, None, "JOBQ_DATABASE_URL", "postgresql://"),
        # PostgreSQL pool
        ({"JOBQ_ALLOWED_HOSTS": "good.example, bad host!"}, None, "JOBQ_ALLOWED_HOSTS",
         "good.example, bad host!"),
        ({"JOBQ_DB_POOL_SIZE": "-1"}, None, "JOBQ_DB_POOL_SIZE", "-1"),
        ({"JOBQ_DB_POOL_SIZE": "many"}, None, "JOBQ_DB_POOL_SIZE", "many"),
        ({}, {"db_pool_size": 5000}, "--db-pool-size", "5000"),
        ({"JOBQ_DB_CONNECT_TIMEOUT": "0"}, None, "JOBQ_DB_CONNECT_TIMEOUT", "0"),
        ({"JOBQ_DB_CONNECT_TIMEOUT": "nan"}, None, "JOBQ_DB_CONNECT_TIMEOUT", "nan"),
        ({"JOBQ_DB_STATEMENT_TIMEOUT": "-1"}, None, "JOBQ_DB_STATEMENT_TIMEOUT", "-1"),
        ({}, {"db_statement_timeout": 0.0001}, "--db-statement-timeout", "0.0001"),
        ({"JOBQ_DATABASE_URL": "mysql://x"}, None, "JOBQ_DATABASE_URL", "mysql://x"),
        ({"JOBQ_DATABASE_URL": "sqlite://relative.db"}, None, "JOBQ_DATABASE_URL",
         "sqlite://relative.db"),
        ({"JOBQ_DATABASE_URL": "sqlite:///:memory:"}, None, "JOBQ_DATABASE_URL",
         "sqlite:///:memory:"),
        ({"JOBQ_DATABASE_URL": "jobq.db"}, None, "JOBQ_DATABASE_URL", "jobq.db"),
        ({}, {"database_url": "mysql://x"}, "--database-url", "mysql://x"),
    ],
)  # fmt: skip
def test_invalid_values(
    env: dict[str, str], flags: dict[str, Any] | None, label: str, bad: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env, flags)
    message = str(info.value)
    lines = message.splitlines()
    assert len(lines) == 1, message
    line = lines[0]
    # the name exactly as given, followed by "=" (so PORT is not found inside JOBQ_PORT)
    assert f" {label}=" in line, line
    assert bad in line
    assert "allowed" in line


def test_invalid_port_message_names_allowed_range() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"JOBQ_PORT": "abc"})
    assert str(info.value).startswith("invalid setting JOBQ_PORT='abc': ")
    assert str(info.value).endswith("allowed: an integer 0..65535 (0: any free port)")


def test_postgres_url_and_pool_settings_are_read() -> None:
    loaded = load_settings(
        {
            "JOBQ_DATABASE_URL": "postgresql://jobq@db.internal:5432/jobs",
            "JOBQ_DB_POOL_SIZE": "25",
            "JOBQ_DB_CONNECT_TIMEOUT": "2.5",
        },
        {"db_statement_timeout": 12.0},
    )
    settings = loaded.settings
    assert settings.database_url == "postgresql://jobq@db.internal:5432/jobs"
    assert settings.postgres_options() == PostgresOptions(
        pool_size=25, connect_timeout=2.5, statement_timeout=12.0
    )
    assert loaded.sources["db_pool_size"] == "env JOBQ_DB_POOL_SIZE"
    assert loaded.sources["db_statement_timeout"] == "flag --db-statement-timeout"


def test_a_bad_database_url_never_shows_its_password() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"JOBQ_DATABASE_URL": "mysql://admin:hunter2@db/jobs"})
    assert "hunter2" not in str(info.value)
    assert "mysql://admin:***@db/jobs" in str(info.value)


def test_two_bad_values_give_two_lines() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"JOBQ_PORT": "abc", "JOBQ_LOG_FORMAT": "xml"})
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert any("JOBQ_PORT=" in line and "abc" in line for line in lines)
    assert any("JOBQ_LOG_FORMAT=" in line and "xml" in line for line in lines)
    assert all("allowed" in line for line in lines)


def test_bad_env_and_bad_flag_give_two_lines() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"WORKER_COUNT": "x"}, {"port": 70000})
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert any(" WORKER_COUNT='x'" in line for line in lines)
    assert any(" --port=70000" in line for line in lines)


def test_good_flag_overrides_bad_env() -> None:
    loaded = load_settings({"JOBQ_PORT": "abc"}, {"port": 81})
    assert loaded.settings.port == 81


def test_boundaries_accepted() -> None:
    env = {
        "JOBQ_PORT": "65535",
        "JOBQ_WORKER_COUNT": "1000",
        "JOBQ_QUEUE_CAPACITY": "100000",
        "JOBQ_SHUTDOWN_TIMEOUT": "0",
        "JOBQ_MAX_BODY_BYTES": "1024",
    }
    s = load_settings(env).settings
    assert (s.port, s.worker_count, s.queue_capacity) == (65535, 1000, 100_000)
    assert s.shutdown_timeout == 0
    assert s.max_body_bytes == 1024


def test_http_allow_defaults_to_any_only_for_an_api_on_loopback() -> None:
    assert load_settings({}).settings.http_allowlist(serves_api=True) == ("*",)
    assert load_settings({}).settings.http_allowlist() == ()  # a worker: none
    beyond = load_settings({"JOBQ_HOST": "0.0.0.0"}).settings
    assert beyond.http_allowlist(serves_api=True) == ()
    given = load_settings({"JOBQ_HOST": "0.0.0.0", "JOBQ_HTTP_ALLOW": "*.example.com"})
    assert given.settings.http_allowlist() == ("*.example.com",)
    assert given.settings.http_allowlist(serves_api=True) == ("*.example.com",)


def test_a_session_key_is_never_shown() -> None:
    key = "k" * 40
    loaded = load_settings({"JOBQ_SESSION_KEY": key})
    assert loaded.settings.session_key is not None
    assert loaded.settings.session_key.get_secret_value() == key
    assert key not in repr(loaded.settings) and key not in str(loaded.settings.model_dump())
    with pytest.raises(ConfigError) as refused:
        load_settings({"JOBQ_SESSION_KEY": "secret-but-short"})
    assert "secret-but-short" not in str(refused.value) and "JOBQ_SESSION_KEY" in str(refused.value)


def test_settings_are_frozen() -> None:
    settings = load_settings({}).settings
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]
    assert settings.port == 8080


def test_settings_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Settings(nonsense=1)  # type: ignore[call-arg]


def test_settings_do_not_read_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQ_PORT", "4321")
    monkeypatch.setenv("PORT", "4321")
    assert load_settings({}).settings.port == 8080
    assert Settings().port == 8080


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, frozenset({"localhost", "127.0.0.1", "::1"})),
        ({"JOBQ_HOST": "::1"}, frozenset({"localhost", "127.0.0.1", "::1"})),
        ({"JOBQ_HOST": "0.0.0.0"}, None),
        ({"JOBQ_HOST": "0.0.0.0", "JOBQ_ALLOWED_HOSTS": "Jobs.Example.com,[fd00::1]"},
         frozenset({"jobs.example.com", "fd00::1"})),
        ({"JOBQ_ALLOWED_HOSTS": "*"}, None),
    ],
)  # fmt: skip
def test_the_hosts_the_server_answers_to(
    env: dict[str, str], allowed: frozenset[str] | None
) -> None:
    assert load_settings(env).settings.host_allowlist() == allowed


# -- PostgreSQL settings that go together (checked by jobq serve and jobq worker) -------------

PG = "postgresql://jobq@pgbouncer:6432/jobs"


def test_behind_a_transaction_pooler_listen_needs_a_direct_url() -> None:
    loaded = load_settings({"JOBQ_DATABASE_URL": PG, "JOBQ_DB_POOLER": "transaction"})
    with pytest.raises(ConfigError) as refused:
        check_postgres_settings(loaded)
    message = str(refused.value)
    assert "JOBQ_NOTIFY='listen'" in message and "JOBQ_DB_POOLER=transaction" in message
    assert "JOBQ_LISTEN_URL" in message and "JOBQ_NOTIFY=poll" in message


@pytest.mark.parametrize(
    "extra",
    [
        {"JOBQ_NOTIFY": "poll"},
        {"JOBQ_LISTEN_URL": "postgresql://jobq@db:5432/jobs"},
        {"JOBQ_WORKER_COUNT": "0"},  # serve --workers 0 never LISTENs
    ],
)
def test_behind_a_transaction_pooler_poll_or_a_direct_url_will_do(extra: dict[str, str]) -> None:
    env = {"JOBQ_DATABASE_URL": PG, "JOBQ_DB_POOLER": "transaction", **extra}
    check_postgres_settings(load_settings(env))


def test_the_flag_is_named_when_the_flag_set_it() -> None:
    loaded = load_settings({"JOBQ_DATABASE_URL": PG}, {"db_pooler": "transaction"})
    with pytest.raises(ConfigError, match="--db-pooler=transaction"):
        check_postgres_settings(loaded)


def test_postgres_settings_on_sqlite_are_refused() -> None:
    loaded = load_settings({"JOBQ_LISTEN_URL": "postgresql://jobq@db/jobs"})
    with pytest.raises(ConfigError, match="JOBQ_LISTEN_URL: it is for PostgreSQL"):
        check_postgres_settings(loaded)


def test_a_listen_url_must_be_postgresql() -> None:
    with pytest.raises(ConfigError, match="not a PostgreSQL URL"):
        load_settings({"JOBQ_LISTEN_URL": "sqlite:///x.db"})


def test_a_bad_listen_url_hides_its_password() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"JOBQ_LISTEN_URL": "mysql://jobq:hunter2@db/jobs"})
    assert "hunter2" not in str(refused.value)


def test_postgres_options_carry_the_new_settings() -> None:
    env = {
        "JOBQ_DATABASE_URL": PG,
        "JOBQ_DB_POOLER": "transaction",
        "JOBQ_LISTEN_URL": "postgresql://jobq@db:5432/jobs",
    }
    options = load_settings(env).settings.postgres_options()
    assert (options.pooler, options.notify) == ("transaction", "listen")
    assert options.listen_url == "postgresql://jobq@db:5432/jobs"
    assert options.pool_size == 4


def test_pool_size_auto_is_one_connection_for_a_worker_process_and_four_elsewhere() -> None:
    auto = load_settings({"JOBQ_DATABASE_URL": PG}).settings
    assert auto.postgres_options(worker_process=True).pool_size == 0
    assert auto.postgres_options().pool_size == 4
    told = load_settings({"JOBQ_DATABASE_URL": PG, "JOBQ_DB_POOL_SIZE": "2"}).settings
    assert told.postgres_options(worker_process=True).pool_size == 2
    assert told.postgres_options().pool_size == 2
