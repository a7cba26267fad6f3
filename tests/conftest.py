"""Shared fixtures: settings, migrated SQLite and Postgres databases, a Redis namespace.

Postgres and Redis tests skip on a laptop without them but fail when CI=true
(dramatiq's own pattern); .ci/run sets REACTOR_TEST_POSTGRES_URL and REACTOR_TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from reactor.config import Settings
from reactor.runtime import Runtime
from reactor.storage import migrations, normalise_url

RUN_ID = uuid.uuid4().hex[:8]


def _service_url(variable: str) -> str:
    url = os.environ.get(variable)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{variable} must be set in CI", pytrace=False)
        pytest.skip(f"{variable} is not set")
    return url


#: Tests that take ``database_url`` or ``engine`` run on SQLite and, where it is, Postgres.
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of this test's own: SQLite, then Postgres."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on ``database_url``, disposed before the database is dropped."""
    from reactor.storage import make_engine

    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A rules folder with one rule: every interaction.created earns 1 point."""
    path = tmp_path / "rules"
    path.mkdir()
    (path / "one.yaml").write_text(
        "rules:\n  - id: one-point\n    on: interaction.created\n    then:\n      - points: 1\n"
    )
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database file of this test's own."""
    url = f"sqlite:///{tmp_path / 'reactor.db'}"
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[tuple[sa.Engine, str]]:
    """A migrated template database for this run; each test copies it."""
    admin_url = _service_url("REACTOR_TEST_POSTGRES_URL")
    admin = sa.create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"reactor_tpl_{RUN_ID}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    yield admin, name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_template: tuple[sa.Engine, str]) -> Iterator[str]:
    """A migrated Postgres database of this test's own, dropped afterwards."""
    admin, template = postgres_template
    name = f"reactor_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    return _service_url("REACTOR_TEST_REDIS_URL")


@pytest.fixture
def queue_namespace(redis_url: str) -> Iterator[str]:
    """A Dramatiq namespace of this test's own; its keys are deleted afterwards."""
    import redis

    namespace = f"reactor-test-{RUN_ID}-{uuid.uuid4().hex[:8]}"
    yield namespace
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def worker_env(
    postgres_url: str, redis_url: str, queue_namespace: str, rules_dir: Path
) -> dict[str, str]:
    """The environment a `reactor worker` of this test runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
    env.update(
        REACTOR_DATABASE_URL=postgres_url,
        REACTOR_BROKER_URL=redis_url,
        REACTOR_QUEUE_NAMESPACE=queue_namespace,
        REACTOR_RULES_PATH=str(rules_dir),
        REACTOR_HEARTBEAT_TIMEOUT_MS="2000",
        REACTOR_SWEEP_AFTER_SECONDS="3",
        REACTOR_SWEEP_INTERVAL_SECONDS="0.5",
        REACTOR_LOG_FORMAT="json",
        REACTOR_LOG_LEVEL="WARNING",
    )
    return env


@pytest.fixture
def redis_runtime(worker_env: dict[str, str], rules_dir: Path) -> Iterator[Runtime]:
    """The web side: stores events and enqueues them on Redis; runs no workers itself."""
    settings = make_settings(
        database_url=worker_env["REACTOR_DATABASE_URL"],
        broker_url=worker_env["REACTOR_BROKER_URL"],
        queue_namespace=worker_env["REACTOR_QUEUE_NAMESPACE"],
        rules_path=rules_dir,
    )
    runtime = Runtime(settings)
    yield runtime
    runtime.engine.dispose()


class _IsolatedSettings(Settings):
    """Settings that read only what the test passes, never the environment."""

    @classmethod
    def settings_customise_sources(  # type: ignore[override]
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        **_: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def make_settings(**overrides: object) -> Settings:
    """Settings for a test: defaults plus ``overrides``."""
    values: dict[str, object] = {"log_format": "console", "sweep_interval_seconds": 0.5}
    values.update(overrides)
    return _IsolatedSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def amqp_url() -> str:
    return _service_url("REACTOR_TEST_AMQP_URL")
