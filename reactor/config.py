"""Reactor's settings: read once, at start, from ``REACTOR_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob Reactor has; tests build their own instead of touching the environment."""

    model_config = SettingsConfigDict(env_prefix="REACTOR_", extra="ignore", frozen=True)

    database_url: str = "sqlite:///reactor.db"
    # None means the embedded in-process broker: `reactor serve` then runs the workers too.
    broker_url: str | None = None
    rules_path: Path = Path("rules")
    # How often serve and workers look for edited rule files; 0 turns watching off (SIGHUP
    # still reloads `serve`; a worker reloads when Dramatiq restarts it on SIGHUP).
    rules_reload_seconds: float = Field(default=2.0, ge=0)
    timezone: str = "UTC"
    # Comma-separated ``whsec_…`` secrets; several allow rotation. Empty: signatures not checked.
    webhook_secrets: str = ""
    notify_url: str | None = None
    notify_secret: str | None = None

    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    # Group commit: concurrent webhooks wait this long for company, then up to intake_batch of
    # them are stored by one transaction (0: no waiting; a batch is whatever arrived meanwhile).
    intake_window_ms: float = Field(default=2.0, ge=0, le=1000)
    intake_batch: int = Field(default=200, ge=1, le=5000)
    # The most events one worker transaction processes (a doorbell's events and the earlier
    # pending events of their members); the rest go back to the queue.
    worker_batch: int = Field(default=200, ge=1, le=5000)
    # An event still pending this long after it was (re-)enqueued is enqueued again.
    sweep_after_seconds: float = Field(default=30.0, gt=0)
    sweep_interval_seconds: float = Field(default=5.0, gt=0)
    # Transient failures (database down, lock timeouts) are retried this often with backoff.
    max_retries: int = Field(default=10, ge=0)
    min_backoff_ms: int = Field(default=200, ge=1)
    max_backoff_ms: int = Field(default=60_000, ge=1)
    # How long a transaction waits for a member's lock before giving up and retrying later.
    lock_timeout_ms: int = Field(default=10_000, ge=1)
    worker_threads: int = Field(default=4, ge=1)
    worker_processes: int = Field(default=2, ge=1)
    # `reactor serve` processes (several only with a broker URL); they share the port.
    serve_processes: int = Field(default=1, ge=1, le=64)
    # Dramatiq's heartbeat: how soon a dead worker's unacked messages may be requeued.
    heartbeat_timeout_ms: int = Field(default=60_000, ge=1000)
    # The longest an idle worker sleeps between looks at the Redis queue.
    queue_poll_ms: int = Field(default=50, ge=1, le=10_000)
    queue_namespace: str = "reactor"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def secrets(self) -> list[str]:
        return [s.strip() for s in self.webhook_secrets.split(",") if s.strip()]

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings() -> Settings:
    """Read the environment once; the only place Reactor looks at ``REACTOR_*`` variables."""
    return Settings()
