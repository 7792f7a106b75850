"""One Settings object, read once at start-up and passed down.

Precedence, highest first: command-line flags, ``TASKQ_<NAME>`` environment variables,
a ``taskq.toml`` file (``--config``/``TASKQ_CONFIG`` names another), then the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from taskq.drivers import check_url

DEFAULT_CONFIG_FILE = "taskq.toml"


class Settings(BaseSettings):
    """Every option of taskq; each is a flag, an env var ``TASKQ_<NAME>`` and a TOML key."""

    model_config = SettingsConfigDict(
        env_prefix="TASKQ_", extra="forbid", frozen=True, toml_file=DEFAULT_CONFIG_FILE
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    database: str = "./data/tasks.db"
    concurrency: int = Field(2, ge=1, le=10_000)
    prefetch: int = Field(5, ge=0, le=100_000)
    demo_delay_ms: int = Field(100, ge=0)
    actions: Annotated[list[str], NoDecode] = []
    queues: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = Field(1024 * 1024, ge=1)
    max_header_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    header_timeout_s: float = Field(10.0, gt=0)
    body_timeout_s: float = Field(30.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    lease_s: float = Field(30.0, gt=0)
    grace_s: float = Field(30.0, ge=0)
    cancel_grace_s: float = Field(5.0, ge=0)
    retention_days: float = Field(7.0, ge=0)
    cron: dict[str, str] = {}
    poll_interval_s: float = Field(1.0, gt=0)
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    sqlite_worker_sync_ms: int = Field(20, ge=0, le=60_000)
    pg_pool_size: int = Field(10, ge=1, le=1000)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"

    @field_validator("actions", "queues", mode="before")
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
