"""The running Reactor: settings, database, rules, broker and actors, wired once per process."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import dramatiq
import structlog
from sqlalchemy import Engine

from reactor import metrics, outbox
from reactor.broker import Hooks, make_broker, waiting
from reactor.clock import Clock, SystemClock
from reactor.config import Settings
from reactor.errors import ConfigError, PermanentError, TransientError
from reactor.outbox import Deliverer
from reactor.processor import mark_failed, process_batch, process_event
from reactor.reload import RulesWatcher
from reactor.rules import RuleSet, load_rules
from reactor.signatures import WebhookVerifier
from reactor.storage import make_engine
from reactor.sweeper import Periodic, sweep

log = structlog.get_logger(__name__)

QUEUE = "events"
NOTIFICATIONS = "notifications"
#: Events the sweeper re-enqueues per pass; a queue backlog larger than this skips the pass.
SWEEP_BATCH = 1000


class Runtime:
    """Everything one process needs; the web app, the workers and the CLI each build one."""

    def __init__(
        self,
        settings: Settings,
        *,
        rules: RuleSet | None = None,
        engine: Engine | None = None,
        broker: dramatiq.Broker | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        #: Where every "now" of this process comes from (tests pass a clock of their own).
        self.clock: Clock = clock or SystemClock()
        self.engine = engine or make_engine(
            settings.database_url, lock_timeout_ms=settings.lock_timeout_ms
        )
        self.rules = (
            rules if rules is not None else load_rules(settings.rules_path, settings.timezone)
        )
        self.broker = broker or make_broker(settings)
        self.verifier = WebhookVerifier(settings.secrets) if settings.secrets else None
        self.sweeper = Periodic("sweeper", settings.sweep_interval_seconds, self.sweep_once)
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
        # The receiver's doorbell: one message for the events one commit stored.
        self.batch_actor = dramatiq.actor(
            broker=self.broker,
            actor_name="process_events",
            queue_name=QUEUE,
            max_retries=settings.max_retries,
            min_backoff=settings.min_backoff_ms,
            max_backoff=settings.max_backoff_ms,
            retry_when=self._should_retry,
        )(self.handle_batch)
        self.deliverer: Deliverer | None = None
        self.outbox_sweeper: Periodic | None = None
        if settings.notify_url:
            if not settings.notify_secret:
                raise ConfigError("REACTOR_NOTIFY_URL is set, so REACTOR_NOTIFY_SECRET must be too")
            self.deliverer = Deliverer(
                self.engine, settings.notify_url, settings.notify_secret, clock=self.clock
            )
            self.outbox_sweeper = Periodic(
                "outbox",
                settings.sweep_interval_seconds,
                lambda: [
                    self.deliver_actor.send(n)
                    for n in outbox.due(self.engine, now=self.clock.now())
                ],
            )
        # Declared even without a notify URL, so `reactor worker` always has the queue.
        self.deliver_actor = dramatiq.actor(
            broker=self.broker,
            actor_name="deliver_notification",
            queue_name=NOTIFICATIONS,
            # A few quick retries; after that the outbox sweeper keeps trying, with backoff,
            # for as long as the receiver is down.
            max_retries=5,
            min_backoff=1000,
            max_backoff=30_000,
            retry_when=lambda retries, exc: isinstance(exc, TransientError) and retries <= 5,
        )(self.deliver)
        self._worker: dramatiq.Worker | None = None

    def _swap_rules(self, rules: RuleSet) -> None:
        # One attribute assignment: an event being handled keeps the set it started with.
        self.rules = rules

    def _on_worker_boot(self) -> None:
        self.sweeper.start()
        self.watcher.start()
        if self.outbox_sweeper is not None:
            self.outbox_sweeper.start()

    def _on_worker_shutdown(self) -> None:
        self.sweeper.stop()
        self.watcher.stop()
        if self.outbox_sweeper is not None:
            self.outbox_sweeper.stop()

    def deliver(self, notification_id: str) -> None:
        """The ``deliver_notification`` actor: one signed POST to REACTOR_NOTIFY_URL."""
        if self.deliverer is None:
            log.warning("notification left undelivered: no REACTOR_NOTIFY_URL", id=notification_id)
            return
        with structlog.contextvars.bound_contextvars(notification_id=notification_id):
            result = self.deliverer.deliver(notification_id)
            log.info("notification handled", result=result)

    def sweep_once(self) -> int:
        """One sweeper pass, skipped while a backlog waits in the queue.

        During a backlog, events wait longer than the sweep timeout although their messages
        are queued; sending them again would only add duplicate work. A lost message is found
        once the backlog drains.
        """
        backlog = waiting(self.broker, QUEUE)
        if backlog is not None and backlog > SWEEP_BATCH:
            log.info("sweep skipped: the queue has a backlog", waiting=backlog)
            return 0
        stale = timedelta(seconds=self.settings.sweep_after_seconds)
        return sweep(self.engine, self.enqueue, stale, now=self.clock.now(), batch=SWEEP_BATCH)

    def enqueue(self, event_id: str) -> None:
        """Ring the doorbell for a stored event."""
        self.process_actor.send(event_id)

    def enqueue_many(self, event_ids: Sequence[str]) -> None:
        """Ring one doorbell for events stored together (a single one rings as ``enqueue``)."""
        if len(event_ids) == 1:
            self.enqueue(event_ids[0])
        elif event_ids:
            self.batch_actor.send(list(event_ids))

    def handle_batch(self, event_ids: list[str]) -> None:
        """The ``process_events`` actor: the events of one doorbell, in one transaction."""
        rules = self.rules
        with structlog.contextvars.bound_contextvars(rules_version=rules.version):
            try:
                with metrics.PROCESSING.time():
                    done = process_batch(
                        self.engine,
                        rules,
                        event_ids,
                        clock=self.clock,
                        notify=self.deliverer is not None,
                        most=self.settings.worker_batch,
                    )
            except TransientError as exc:
                metrics.EVENTS.labels("retried").inc(len(event_ids))
                log.warning("events will be retried", events=len(event_ids), error=str(exc))
                raise
            for notification in done.notifications:
                self._send_quietly(notification)
            if done.deferred:
                self.enqueue_many(done.deferred)
            metrics.WORKER_BATCH.observe(len(done.processed))
            metrics.EVENTS.labels("processed").inc(len(done.processed))
            for result in done.results.values():
                if result not in ("processed", "deferred"):
                    metrics.EVENTS.labels(result).inc()
            for event in done.processed:
                for decision in event.decisions:
                    metrics.DECISIONS.labels(decision.outcome).inc()
            log.info(
                "events handled",
                asked=len(event_ids),
                processed=len(done.processed),
                failed=len(done.failed),
                deferred=len(done.deferred),
            )

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
                    done = process_event(
                        self.engine,
                        rules,
                        event_id,
                        clock=self.clock,
                        notify=self.deliverer is not None,
                        most=self.settings.worker_batch,
                    )
            except TransientError as exc:
                metrics.EVENTS.labels("retried").inc()
                log.warning("event will be retried", error=str(exc))
                raise
            except PermanentError as exc:
                # process_event parked it as failed, with the reason, in its own transaction.
                metrics.EVENTS.labels("failed").inc()
                log.error("event failed", error=str(exc))
                return
            except Exception as exc:
                # A bug must not loop forever: park the event, visible, for `reactor requeue`.
                log.exception("event failed unexpectedly")
                self._fail(event_id, f"{type(exc).__name__}: {exc}")
                return
            for notification in done.notifications:
                self._send_quietly(notification)
            if done.result == "deferred":
                # Many earlier events of its member were waiting; the oldest went first.
                self.enqueue(event_id)
            metrics.EVENTS.labels(done.result).inc()
            if done.earlier:
                metrics.EVENTS.labels("processed").inc(len(done.earlier))
            for decision in done.decisions:
                metrics.DECISIONS.labels(decision.outcome).inc()
            log.info(
                "event handled",
                result=done.result,
                member_id=done.member_id,
                fired=sum(d.outcome == "fired" for d in done.decisions),
                earlier=len(done.earlier),
            )

    def _send_quietly(self, notification: str) -> None:
        try:
            self.deliver_actor.send(notification)
        except Exception:
            # Committed in the outbox already: the outbox sweeper sends it later.
            log.warning("could not enqueue a notification", id=notification, exc_info=True)

    def _fail(self, event_id: str, reason: str) -> None:
        metrics.EVENTS.labels("failed").inc()
        mark_failed(self.engine, event_id, reason, self.clock.now())

    def _should_retry(self, retries: int, exc: BaseException) -> bool:
        # Past the last retry the message is dropped, but the event stays pending in the
        # database, so the sweeper brings it back later.
        return isinstance(exc, TransientError) and retries <= self.settings.max_retries

    def start_embedded_worker(self) -> None:
        """Run the actors in this process (the embedded default: no broker URL)."""
        self.broker.emit_after("process_boot")
        self._worker = dramatiq.Worker(
            self.broker,
            queues={QUEUE, NOTIFICATIONS},
            worker_threads=self.settings.worker_threads,
            # Idle consumers wake this often; it bounds how long `serve` takes to stop.
            worker_timeout=200,
        )
        self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self.deliverer is not None:
            self.deliverer.close()
        self.broker.close()
        self.engine.dispose()

    def describe(self) -> dict[str, Any]:
        return {
            "broker": type(self.broker).__name__,
            "database": self.engine.dialect.name,
            "rules": len(self.rules.rules),
            "rules_version": self.rules.version,
        }
