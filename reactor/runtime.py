"""The running Reactor: settings, database, rules, broker and actors, wired once per process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dramatiq
import structlog
from sqlalchemy import Engine

from reactor import metrics
from reactor.broker import Hooks, make_broker
from reactor.config import Settings
from reactor.db import make_engine
from reactor.errors import PermanentError, TransientError
from reactor.processor import mark_failed, process_event
from reactor.reload import RulesWatcher
from reactor.ruleset import RuleSet, load_rules
from reactor.sweeper import Sweeper

log = structlog.get_logger(__name__)

QUEUE = "events"


class Runtime:
    """Everything one process needs; the web app, the workers and the CLI each build one."""

    def __init__(
        self,
        settings: Settings,
        *,
        rules: RuleSet | None = None,
        engine: Engine | None = None,
        broker: dramatiq.Broker | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine or make_engine(
            settings.database_url, lock_timeout_ms=settings.lock_timeout_ms
        )
        self.rules = (
            rules if rules is not None else load_rules(settings.rules_path, settings.timezone)
        )
        self.broker = broker or make_broker(settings)
        self.sweeper = Sweeper(
            self.engine,
            self.enqueue,
            timedelta(seconds=settings.sweep_after_seconds),
            settings.sweep_interval_seconds,
        )
        self.watcher = RulesWatcher(
            settings.rules_path,
            settings.timezone,
            lambda: self.rules,
            self._swap_rules,
            settings.rules_reload_seconds,
        )
        self.broker.add_middleware(Hooks(self._on_worker_boot, self._on_worker_shutdown))
        self.process_actor = dramatiq.actor(
            broker=self.broker,
            actor_name="process_event",
            queue_name=QUEUE,
            max_retries=settings.max_retries,
            min_backoff=settings.min_backoff_ms,
            max_backoff=settings.max_backoff_ms,
            retry_when=self._should_retry,
        )(self.handle)
        self._worker: dramatiq.Worker | None = None

    def _swap_rules(self, rules: RuleSet) -> None:
        # One attribute assignment: an event being handled keeps the set it started with.
        self.rules = rules

    def _on_worker_boot(self) -> None:
        self.sweeper.start()
        self.watcher.start()

    def _on_worker_shutdown(self) -> None:
        self.sweeper.stop()
        self.watcher.stop()

    def enqueue(self, event_id: str) -> None:
        """Ring the doorbell for a stored event."""
        self.process_actor.send(event_id)

    def handle(self, event_id: str) -> None:
        """The ``process_event`` actor: thin, it calls the processor and records failures."""
        # Every log line while this event is processed carries its id (and, from the processor,
        # its member's). Leaving the block restores the thread's context.
        rules = self.rules  # the whole event sees one rule set, even if a reload lands meanwhile
        with structlog.contextvars.bound_contextvars(
            event_id=event_id, rules_version=rules.version
        ):
            try:
                with metrics.PROCESSING.time():
                    done = process_event(self.engine, rules, event_id)
            except TransientError as exc:
                metrics.EVENTS.labels("retried").inc()
                log.warning("event will be retried", error=str(exc))
                raise
            except PermanentError as exc:
                log.error("event failed", error=str(exc))
                self._fail(event_id, str(exc))
                return
            except Exception as exc:
                # A bug must not loop forever: park the event, visible, for `reactor requeue`.
                log.exception("event failed unexpectedly")
                self._fail(event_id, f"{type(exc).__name__}: {exc}")
                return
            metrics.EVENTS.labels(done.result).inc()
            for decision in done.decisions:
                metrics.DECISIONS.labels(decision.outcome).inc()
            log.info(
                "event handled",
                result=done.result,
                member_id=done.member_id,
                fired=sum(d.outcome == "fired" for d in done.decisions),
            )

    def _fail(self, event_id: str, reason: str) -> None:
        metrics.EVENTS.labels("failed").inc()
        mark_failed(self.engine, event_id, reason)

    def _should_retry(self, retries: int, exc: BaseException) -> bool:
        # Past the last retry the message is dropped, but the event stays pending in the
        # database, so the sweeper brings it back later.
        return isinstance(exc, TransientError) and retries <= self.settings.max_retries

    def start_embedded_worker(self) -> None:
        """Run the actors in this process (the embedded default: no broker URL)."""
        self.broker.emit_after("process_boot")
        self._worker = dramatiq.Worker(
            self.broker,
            queues={QUEUE},
            worker_threads=self.settings.worker_threads,
            # Idle consumers wake this often; it bounds how long `serve` takes to stop.
            worker_timeout=200,
        )
        self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.broker.close()
        self.engine.dispose()

    def describe(self) -> dict[str, Any]:
        return {
            "broker": type(self.broker).__name__,
            "database": self.engine.dialect.name,
            "rules": len(self.rules.rules),
            "rules_version": self.rules.version,
        }
