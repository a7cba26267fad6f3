"""Dramatiq brokers: Redis (or RabbitMQ) in production, in-process for the embedded default."""

from __future__ import annotations

from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from reactor.config import Settings
from reactor.errors import ConfigError


def make_broker(settings: Settings) -> dramatiq.Broker:
    """The broker ``settings.broker_url`` names, or the in-process one when there is none."""
    url = settings.broker_url
    if not url:
        # Dramatiq's StubBroker is a real in-memory broker: the same actors, retries and
        # delays, run by a dramatiq.Worker inside `reactor serve`.
        return StubBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        # A tuned client: health checks and timeouts so a dead connection is noticed
        # (a redis TimeoutError during ack is not a ConnectionError; docs/dependencies.md).
        client = redis.Redis.from_url(
            url, health_check_interval=15, socket_timeout=10, socket_connect_timeout=5
        )
        return _redis_broker(settings.queue_poll_ms)(
            client=client,
            namespace=settings.queue_namespace,
            heartbeat_timeout=settings.heartbeat_timeout_ms,
        )
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url)
    raise ConfigError(f"REACTOR_BROKER_URL {url!r} is not a redis:// or amqp:// URL")


def _redis_broker(poll_ms: int) -> type[RedisBroker]:
    """Dramatiq's RedisBroker, whose idle consumers look for messages at least every
    ``poll_ms``.

    An idle Redis consumer backs off exponentially up to the worker's timeout (1 s, which
    Dramatiq's CLI does not let us change): at half the sustained load, a message could wait
    most of a second in Redis for a worker that was asleep, and the p99 from POST to processed
    was 190 to 450 ms (benchmarks/README.md).
    """

    class PollingRedisBroker(RedisBroker):
        def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
            return super().consume(queue_name, prefetch, min(timeout, poll_ms))

    return PollingRedisBroker


def waiting(broker: dramatiq.Broker, queue: str) -> int | None:
    """How many messages wait in ``queue`` for a worker, or None when the broker cannot say."""
    try:
        if isinstance(broker, StubBroker):
            return int(broker.queues[queue].qsize())
        client = getattr(broker, "client", None)
        if client is not None and hasattr(broker, "namespace"):  # RedisBroker's list of ids
            return int(client.llen(f"{broker.namespace}:{queue}"))
        if hasattr(broker, "get_queue_message_counts"):  # RabbitmqBroker
            return int(broker.get_queue_message_counts(queue)[0])
    except Exception:
        return None
    return None


class Hooks(Middleware):
    """Runs Reactor's start and stop hooks inside each worker process (e.g. the sweeper)."""

    def __init__(self, on_boot: Any, on_shutdown: Any) -> None:
        self._on_boot = on_boot
        self._on_shutdown = on_shutdown

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._on_boot()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._on_shutdown()
