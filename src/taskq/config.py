"""One Settings object, read once at start-up and passed down.

Precedence, highest first: command-line flags, ``TASKQ_<NAME>`` environment variables,
a ``taskq.toml`` file (``--config``/``TASKQ_CONFIG`` names another), then the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from taskq.drivers import check_url
from taskq.errors import InvalidTask
from taskq.flow import KEEP, Keep, Rate

DEFAULT_CONFIG_FILE = "taskq.toml"


class QueueConfig(BaseModel):
    """A queue's flow control as ``taskq.toml`` gives it (``[queue_settings.NAME]``): each
    key given is written to the store when a taskq process starts; one left out is kept.
    ``"none"`` clears a limit (TOML has no null)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    paused: bool | None = None
    concurrency: Annotated[int, Field(ge=1, le=2**31 - 1)] | Literal["none"] | None = None
    rate_limit: str | None = None
    key_concurrency: Annotated[int, Field(ge=1, le=2**31 - 1)] | Literal["none"] | None = None

    @field_validator("rate_limit")
    @classmethod
    def _a_rate(cls, value: str | None) -> str | None:
        if value is not None and value != "none":
            try:
                Rate.parse(value)
            except InvalidTask as exc:
                raise ValueError(str(exc)) from None
        return value

    def changes(self) -> dict[str, Any]:
        """The keyword arguments of ``Queue.update_queue`` this asks for."""
        concurrency: int | Keep | None = KEEP
        if self.concurrency is not None:
            concurrency = None if self.concurrency == "none" else self.concurrency
        rate: Rate | Keep | None = KEEP
        if self.rate_limit is not None:
            rate = None if self.rate_limit == "none" else Rate.parse(self.rate_limit)
        key_concurrency: int | Keep | None = KEEP
        if self.key_concurrency is not None:
            key_concurrency = None if self.key_concurrency == "none" else self.key_concurrency
        return {
            "paused": self.paused,
            "concurrency": concurrency,
            "rate": rate,
            "key_concurrency": key_concurrency,
        }


class Settings(BaseSettings):
    """Every option of taskq; each is a flag, an env var ``TASKQ_<NAME>`` and a TOML key."""

    model_config = SettingsConfigDict(
        env_prefix="TASKQ_", extra="forbid", frozen=True, toml_file=DEFAULT_CONFIG_FILE
    )

    # Each default and description is written here once: the CLI generates its flags and
    # their help from these fields (taskq.cli), so the two cannot disagree.
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8080, ge=0, le=65535, description="port to listen on")
    database: str = Field("./data/tasks.db", description="SQLite file path or postgresql:// URL")
    concurrency: int = Field(2, ge=1, le=10_000, description="tasks run at once")
    prefetch: int = Field(5, ge=0, le=100_000, description="tasks claimed ahead")
    demo_delay_ms: int = Field(100, ge=0, description="simulated work of demo actions")
    actions: Annotated[list[str], NoDecode] = Field(
        [], description="modules of @taskq.action handlers"
    )
    queues: Annotated[list[str], NoDecode] = Field(
        [], description="comma-separated queues to consume; all when none are given"
    )
    allow_anonymous: bool = Field(
        False, description="serve requests without a key while none exists, beyond loopback too"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        [], description="comma-separated origins whose pages may call the API (CORS)"
    )
    processes: int = Field(
        1, ge=1, le=64, description="server processes sharing the port, each a whole service"
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1, description="largest request body")
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="largest request line and headers; more is answered 431",
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="time a client gets to send the request line and headers"
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="time a client gets to send a whole request body"
    )
    max_attempts: int = Field(3, ge=1, description="attempts before a task fails")
    lease_s: float = Field(30.0, gt=0, description="lease on a running task")
    grace_s: float = Field(30.0, ge=0, description="shutdown grace for running tasks")
    cancel_grace_s: float = Field(
        5.0, ge=0, description="time a cancelled or timed-out sync handler gets to return"
    )
    retention_days: float = Field(
        7.0, ge=0, description="prune finished tasks older than this; 0 keeps them"
    )
    cron: dict[str, str] = Field(
        {}, description="schedules by action name: the service enqueues each on its cron"
    )
    queue_settings: dict[str, QueueConfig] = Field(
        {},
        description="flow control by queue name (paused, concurrency, rate_limit,"
        " key_concurrency), written to the store when a process starts",
    )
    poll_interval_s: float = Field(1.0, gt=0, description="check for work from other processes")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field("FULL", description="SQLite fsync level")
    sqlite_worker_sync_ms: int = Field(
        20,
        ge=0,
        le=60_000,
        description="with FULL, fsync worker bookkeeping within this long, not per commit;"
        " accepted tasks are always fsynced before the reply; 0 = per commit",
    )
    pg_pool_size: int = Field(
        10,
        ge=1,
        le=1000,
        description="PostgreSQL connections per process, plus one listening where workers run",
    )
    pg_worker_commit: Literal["async", "sync"] = Field(
        "async",
        description="async: worker bookkeeping commits without waiting for its WAL flush;"
        " accepted tasks always wait; sync: every commit waits",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="least severe log records written"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="log lines as text, or one JSON object a line"
    )
    otel: bool = Field(
        False,
        description="trace with OpenTelemetry (needs taskq[otel]); also on when"
        " OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT is set",
    )

    @field_validator("actions", "queues", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        # env vars give "a,b"; flags and TOML give lists
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("database")
    @classmethod
    def _supported(cls, value: str) -> str:
        return check_url(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Settings from flags (``overrides``; None means "not given"), env and TOML.

    ``config_file`` (else ``TASKQ_CONFIG``) names the TOML file; it must then exist.
    """
    given = {k: v for k, v in overrides.items() if v is not None and v != ()}
    config_file = config_file or os.environ.get("TASKQ_CONFIG")
    if config_file is None:
        return Settings(**given)
    if not Path(config_file).is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    config = SettingsConfigDict(**{**Settings.model_config, "toml_file": config_file})
    from_file: type[Settings] = type("Settings", (Settings,), {"model_config": config})
    return from_file(**given)
