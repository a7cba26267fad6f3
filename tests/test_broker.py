"""Brokers: the URL picks Redis, RabbitMQ or the in-process broker; events flow through each."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker

from reactor.broker import make_broker
from reactor.errors import ConfigError
from reactor.runtime import Runtime
from reactor.storage import tables
from tests.conftest import make_settings
from tests.support import store, wait_for


def test_no_broker_url_means_the_in_process_broker() -> None:
    """The embedded default needs no Redis."""
    assert isinstance(make_broker(make_settings()), StubBroker)


def test_an_unknown_broker_url_is_a_configuration_error() -> None:
    """A typo in REACTOR_BROKER_URL fails at start, naming the URL."""
    with pytest.raises(ConfigError, match="not a redis:// or amqp:// URL"):
        make_broker(make_settings(broker_url="kafka://localhost"))


@pytest.mark.rabbitmq
def test_events_flow_through_rabbitmq(amqp_url: str, sqlite_url: str, rules_dir: Path) -> None:
    """With an amqp:// URL the same actor runs on RabbitMQ."""
    settings = make_settings(
        database_url=sqlite_url,
        rules_path=rules_dir,
        broker_url=amqp_url,
        # RabbitMQ queues are not namespaced: should another run take our message, the
        # sweeper sends it again soon.
        sweep_after_seconds=2,
    )
    runtime = Runtime(settings)
    store(runtime.engine, "evt_1")
    runtime.start_embedded_worker()
    try:
        runtime.enqueue("evt_1")

        def processed() -> bool:
            with runtime.engine.connect() as conn:
                status = conn.execute(sa.select(tables.events.c.status)).scalar_one()
            return status == "processed"

        wait_for(processed, timeout=30, what="the event via RabbitMQ")
    finally:
        runtime.stop()
