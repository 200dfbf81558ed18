"""Settings: defaults, overridden by the environment, overridden by command-line flags.

Every setting is read from ``JOBQ_<NAME>``; a few also from the plain names older deployments
use (``PORT``, ``WORKER_COUNT``, ``JOB_QUEUE_CAPACITY``), the ``JOBQ_`` name winning. A value
that is not allowed is an error that names the setting, the value and what is allowed: jobq
never falls back to a default in silence.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from jobq.domain.errors import ConfigError
from jobq.domain.jsonvalues import MAX_DEPTH
from jobq.domain.retention import DEFAULT_RETAIN, DURATION_HELP, Retain, check_keep, parse_duration
from jobq.domain.states import JobState
from jobq.names import check_name
from jobq.store.options import DEFAULT_POOL_SIZE, Notify, Pooler, PostgresOptions
from jobq.store.url import parse_database_url, redact

_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)

MAX_PREFETCH = 100_000
MAX_POOL_SIZE = 1000

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["auto", "json", "console"]


def _auto_or_count(value: Any, most: int) -> int | Literal["auto"]:
    """``auto``, or an integer 0..``most`` (from a string too); ValueError otherwise."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not 0 <= number <= most:
        raise ValueError(f"not auto or an integer 0..{most}")
    return number


class Settings(BaseSettings):
    """The effective configuration of one jobq process."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", validate_default=True)

    database_url: str = Field(
        "sqlite:///jobq.db",
        description="where jobs live: sqlite:///relative.db, sqlite:////absolute/path.db or "
        "postgresql://user:password@host:5432/dbname",
    )
    db_pool_size: int | Literal["auto"] = Field(
        "auto",
        description="auto, or an integer 0..1000: pooled PostgreSQL connections this process "
        "opens at most, beside the one a worker pool LISTENs on (0: no pool, every call takes "
        "that one connection in turn; auto: 0 in `jobq worker`, 4 elsewhere)",
    )
    db_connect_timeout: float = Field(
        5.0,
        gt=0,
        le=300,
        allow_inf_nan=False,
        description="seconds (0, 300] to wait for a PostgreSQL connection",
    )
    db_statement_timeout: float = Field(
        30.0,
        ge=0.01,
        le=86_400,
        allow_inf_nan=False,
        description="seconds 0.01..86400 one PostgreSQL statement may run",
    )
    db_pooler: Pooler = Field(
        "none",
        description="none, or transaction: a pooler in transaction mode (PgBouncer "
        "pool_mode=transaction) sits between jobq and PostgreSQL",
    )
    notify: Notify = Field(
        "listen",
        description="listen (a PostgreSQL connection of the pool's own LISTENs: woken at once) "
        "or poll (no such connection: claim every poll interval)",
    )
    listen_url: str | None = Field(
        None,
        description="a postgresql:// URL for the LISTEN connection, straight to the server "
        "(unset: the database URL)",
    )
    host: str = Field(
        "127.0.0.1", description="an IP address or host name to bind, e.g. 127.0.0.1 or ::1"
    )
    port: int = Field(8080, ge=0, le=65535, description="an integer 0..65535 (0: any free port)")
    worker_count: int = Field(
        10, ge=0, le=1000, description="an integer 0..1000 (0: serve the API only)"
    )
    queue_capacity: int = Field(
        100,
        ge=1,
        le=100_000,
        description="an integer 1..100000: claimed jobs waiting for a free worker, at most",
    )
    prefetch: int | Literal["auto"] = Field(
        "auto",
        description="auto, or an integer 0..100000: jobs a worker process claims beyond its "
        "free workers (0: only what it can start now; auto: what its workers finish during two "
        "claims, measured)",
    )
    shutdown_timeout: float = Field(
        30.0,
        ge=0,
        le=86_400,
        description="seconds 0..86400 that running jobs get to finish at shutdown",
    )
    lease_seconds: float = Field(
        30.0,
        ge=0.1,
        le=86_400,
        description="seconds 0.1..86400 a claim holds a job without a heartbeat",
    )
    poll_interval: float = Field(
        1.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="seconds (0, 3600] between claims when idle",
    )
    log_level: LogLevel = Field("INFO", description="one of DEBUG, INFO, WARNING, ERROR")
    log_format: LogFormat = Field(
        "auto", description="one of auto (JSON unless a terminal), json, console"
    )
    app: str | None = Field(
        None, description="module:attribute of a JobQueue or Registry with your handlers"
    )
    queues: tuple[str, ...] | None = Field(
        None, description="comma-separated queue names to work on (default: every queue)"
    )
    accept_unknown_types: bool = Field(
        False, description="true or false: accept job types no handler here knows"
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="an integer 0..65535: serve /metrics on this port of the bind address "
        "(0: any free port; unset: only the API serves /metrics)",
    )
    allowed_hosts: tuple[str, ...] | None = Field(
        None,
        description="comma-separated host names clients use to reach this server, or * for any "
        "(unset: localhost, 127.0.0.1 and ::1 when bound to loopback; any otherwise)",
    )
    insecure: bool = Field(
        False,
        description="true or false: serve beyond loopback with no API token (only behind a proxy "
        "that authenticates requests)",
    )
    metrics_public: bool = Field(
        False,
        description="true or false: /metrics answers without a token even once tokens exist",
    )
    rate_limit: float = Field(
        100.0,
        ge=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="requests per second 0..1000000 each API token may make, with bursts of "
        "twice that (0: no limit)",
    )
    session_key: SecretStr | None = Field(
        None,
        description="32 or more characters that sign dashboard sessions; the same on every "
        "process behind one address (unset: a random key per process, so a session works "
        "only on the process that made it, until it restarts)",
    )
    http_allow: tuple[str, ...] | None = Field(
        None,
        description="comma-separated host patterns the built-in http.request job may call: "
        "example.com, *.example.com, 10.0.0.5, or * for any (unset: any in jobq serve on "
        "loopback, none otherwise)",
    )
    max_body_bytes: int = Field(
        262_144,
        ge=1024,
        le=256 * 1_048_576,
        description="an integer 1024..268435456: the largest request body, in bytes",
    )
    max_json_depth: int = Field(
        MAX_DEPTH,
        ge=2,
        le=MAX_DEPTH,
        description=f"an integer 2..{MAX_DEPTH}: how deeply a request body may nest arrays and "
        "objects",
    )
    max_page_size: int = Field(
        500,
        ge=1,
        le=10_000,
        description="an integer 1..10000: the most jobs one GET /jobs page may ask for",
    )
    max_header_bytes: int = Field(
        16_384,
        ge=1024,
        le=1_048_576,
        description="an integer 1024..1048576: the largest request line and headers, in bytes",
    )
    read_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="seconds (0, 3600] a client has to send a request's whole body",
    )

    retain_succeeded: float | None = Field(
        DEFAULT_RETAIN[JobState.SUCCEEDED],
        description=f"how long a succeeded job is kept before it is deleted: {DURATION_HELP}",
    )
    retain_cancelled: float | None = Field(
        DEFAULT_RETAIN[JobState.CANCELLED],
        description=f"how long a cancelled job is kept before it is deleted: {DURATION_HELP}",
    )
    retain_dead: float | None = Field(
        DEFAULT_RETAIN[JobState.DEAD],
        description=f"how long a dead job is kept before it is deleted: {DURATION_HELP}",
    )
    prune_interval: float = Field(
        10.0,
        ge=0.1,
        le=3600,
        allow_inf_nan=False,
        description="seconds 0.1..3600 between a worker process's sweeps for finished jobs "
        "whose retention has passed",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # ``load_settings`` reads the environment it is given and records where each value came
        # from; ``Settings(...)`` itself only validates what it is handed.
        return (init_settings,)

    def postgres_options(self, *, worker_process: bool = False) -> PostgresOptions:
        """The store's PostgreSQL options; ``worker_process``: for ``jobq worker``, whose
        pool size ``auto`` is 0 (one connection for the process), where it is 4 elsewhere."""
        pool_size = self.db_pool_size
        if pool_size == "auto":
            pool_size = 0 if worker_process else DEFAULT_POOL_SIZE
        return PostgresOptions(
            pool_size=pool_size,
            connect_timeout=self.db_connect_timeout,
            statement_timeout=self.db_statement_timeout,
            notify=self.notify,
            listen_url=self.listen_url,
            pooler=self.db_pooler,
        )

    @field_validator("retain_succeeded", "retain_cancelled", "retain_dead", mode="before")
    @classmethod
    def _retain(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_duration(value)
        return value if value is None else check_keep(float(value))

    def retain(self) -> Retain:
        """The retention of finished jobs these settings give."""
        return Retain(
            succeeded=self.retain_succeeded,
            cancelled=self.retain_cancelled,
            dead=self.retain_dead,
        )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        parse_database_url(value)
        return value

    @field_validator("listen_url", mode="before")
    @classmethod
    def _listen_url(cls, value: Any) -> Any:
        if value in ("", None):
            return None
        if not isinstance(value, str) or parse_database_url(value).scheme != "postgresql":
            raise ValueError("not a PostgreSQL URL")
        return value

    @field_validator("db_pooler", "notify", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOSTNAME.match(value):
                raise ValueError("not an IP address or a host name") from None
        return value

    @field_validator("prefetch", mode="before")
    @classmethod
    def _prefetch(cls, value: Any) -> Any:
        return _auto_or_count(value, MAX_PREFETCH)

    @field_validator("db_pool_size", mode="before")
    @classmethod
    def _db_pool_size(cls, value: Any) -> Any:
        return _auto_or_count(value, MAX_POOL_SIZE)

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _metrics_port(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _allowed_hosts(cls, value: Any) -> Any:
        names = _host_list(value)
        for name in names or ():
            if name != "*" and not _is_host(name):
                raise ValueError(f"{name!r} is not a host name or an IP address")
        return names

    @field_validator("session_key", mode="before")
    @classmethod
    def _session_key(cls, value: Any) -> Any:
        if value in ("", None):
            return None
        if len(str(value)) < 32:
            raise ValueError("too short: give 32 characters or more (e.g. openssl rand -hex 32)")
        return value

    @field_validator("http_allow", mode="before")
    @classmethod
    def _http_allow(cls, value: Any) -> Any:
        patterns = _host_list(value)
        for pattern in patterns or ():
            if pattern != "*" and not _is_host(pattern.removeprefix("*.")):
                raise ValueError(f"{pattern!r} is not a host name, *.domain, an IP address or *")
        return patterns

    def http_allowlist(self, *, serves_api: bool = False) -> tuple[str, ...]:
        """The host patterns ``http.request`` may call (empty: none). Unset: any host only in
        a process that serves the API on loopback alone (a developer's ``jobq serve``); a
        ``jobq worker`` cannot know who may enqueue, so it calls none."""
        if self.http_allow is not None:
            return self.http_allow
        return ("*",) if serves_api and is_loopback(self.host) else ()

    def host_allowlist(self) -> frozenset[str] | None:
        """The Host names the HTTP server answers to; None: any."""
        if self.allowed_hosts is not None:
            return None if "*" in self.allowed_hosts else frozenset(self.allowed_hosts)
        if is_loopback(self.host):
            return frozenset({"localhost", "127.0.0.1", "::1", self.host.lower()})
        return None

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("app", mode="before")
    @classmethod
    def _app(cls, value: Any) -> Any:
        if value in ("", None):
            return None
        if not isinstance(value, str) or not _APP.match(value):
            raise ValueError("must look like package.module:attribute")
        return value

    @field_validator("queues", mode="before")
    @classmethod
    def _queues(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if value is None or len(value) == 0:
            return None
        for name in value:
            check_name(name, what="queue")
        return tuple(value)


def _host_list(value: Any) -> tuple[str, ...] | None:
    """A comma-separated list of host names (lower case, IPv6 brackets taken off); None if it
    names none."""
    if isinstance(value, str):
        value = [part.strip().lower() for part in value.split(",") if part.strip()]
    if value is None or len(value) == 0:
        return None
    return tuple(str(name).strip("[]") for name in value)


def _is_host(name: str) -> bool:
    """A host name or an IP address."""
    if _HOSTNAME.match(name):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


FIELDS: tuple[str, ...] = tuple(Settings.model_fields)

#: the environment variables each setting is read from, the first found winning
ENV_NAMES: dict[str, tuple[str, ...]] = {name: (f"JOBQ_{name.upper()}",) for name in FIELDS}
ENV_NAMES["port"] += ("PORT",)
ENV_NAMES["worker_count"] += ("WORKER_COUNT",)
ENV_NAMES["queue_capacity"] += ("JOB_QUEUE_CAPACITY",)

#: the command-line flag of each setting, where it has one
FLAG_NAMES: dict[str, str] = {
    "database_url": "--database-url",
    "db_pool_size": "--db-pool-size",
    "db_connect_timeout": "--db-connect-timeout",
    "db_statement_timeout": "--db-statement-timeout",
    "db_pooler": "--db-pooler",
    "notify": "--notify",
    "listen_url": "--listen-url",
    "host": "--host",
    "port": "--port",
    "metrics_port": "--metrics-port",
    "allowed_hosts": "--allowed-hosts",
    "worker_count": "--workers",
    "queue_capacity": "--queue-capacity",
    "prefetch": "--prefetch",
    "shutdown_timeout": "--shutdown-timeout",
    "lease_seconds": "--lease-seconds",
    "poll_interval": "--poll-interval",
    "log_level": "--log-level",
    "log_format": "--log-format",
    "app": "--app",
    "queues": "--queues",
    "accept_unknown_types": "--accept-unknown-types",
    "insecure": "--insecure",
}


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    settings: Settings
    #: setting name -> "default", "env JOBQ_PORT" or "flag --port"
    sources: dict[str, str]


def load_settings(
    environ: Mapping[str, str], flags: Mapping[str, Any] | None = None
) -> LoadedSettings:
    """Build the settings from ``environ`` and ``flags`` (setting name -> value; None: not
    given). Raise ``ConfigError`` with one line per bad value."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in FIELDS:
        flag_value = (flags or {}).get(name)
        if flag_value is not None:
            values[name] = flag_value
            sources[name] = f"flag {FLAG_NAMES.get(name, name)}"
            continue
        for env_name in ENV_NAMES[name]:
            if env_name in environ:
                values[name] = environ[env_name]
                sources[name] = f"env {env_name}"
                break
        else:
            sources[name] = "default"
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        lines = [_describe(error, values, sources) for error in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    return LoadedSettings(settings, sources)


def _label(loaded: LoadedSettings, name: str) -> str:
    """Where a setting came from, as the user would spell it: ``JOBQ_NOTIFY``, ``--notify``."""
    source = loaded.sources.get(name, "default")
    return source.split(" ", 1)[1] if " " in source else f"JOBQ_{name.upper()}"


def check_postgres_settings(loaded: LoadedSettings) -> None:
    """The PostgreSQL settings that only make sense together, for a process that runs a worker
    pool (``jobq serve``, ``jobq worker``); ``ConfigError`` naming them."""
    settings = loaded.settings
    postgres = parse_database_url(settings.database_url).scheme == "postgresql"
    if not postgres:
        for name in ("listen_url", "db_pooler"):
            if loaded.sources[name] != "default" and getattr(settings, name) not in (None, "none"):
                raise ConfigError(
                    f"invalid setting {_label(loaded, name)}: it is for PostgreSQL, and "
                    f"{_label(loaded, 'database_url')} names a SQLite database"
                )
        return
    pooled = settings.db_pooler == "transaction"
    listens = settings.worker_count > 0 and settings.notify == "listen"
    if pooled and listens and settings.listen_url is None:
        raise ConfigError(
            f"invalid setting {_label(loaded, 'notify')}='listen': behind a pooler in "
            f"transaction mode ({_label(loaded, 'db_pooler')}=transaction) a LISTEN hears "
            "nothing; set JOBQ_LISTEN_URL to a URL straight to the PostgreSQL server, or "
            "JOBQ_NOTIFY=poll"
        )


def _describe(error: Any, values: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    name = str(error["loc"][0]) if error["loc"] else "?"
    source = sources.get(name, "default")
    label = source.split(" ", 1)[1] if " " in source else name
    message = str(error["msg"]).removeprefix("Value error, ")
    field = Settings.model_fields.get(name)
    allowed = field.description if field is not None and field.description else ""
    value = values.get(name)
    if name in ("database_url", "listen_url") and isinstance(value, str):
        value = redact(value)
    if name == "session_key" and value is not None:
        value = "***"  # a secret, even when it is not allowed
    return f"invalid setting {label}={value!r}: {message}; allowed: {allowed}"
