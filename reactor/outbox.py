"""The transactional outbox: signed notifications written with their effect, delivered later.

An effect and its notification commit together or not at all, so a notification is never sent
for an effect that rolled back, nor lost for one that committed. Delivery happens afterwards
(a Dramatiq actor calls ``Deliverer.deliver``; ``due`` finds what a lost message left behind),
at least once, under an id that is the same on every retry so receivers can deduplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy import Connection, Engine, select, update

from reactor.clock import Clock, SystemClock
from reactor.errors import TransientError
from reactor.signatures import sign
from reactor.storage import insert_once, reader, tables, unavailable_is_transient
from reactor.strictjson import canonical_json
from reactor.sweeper import claim_pending

log = structlog.get_logger(__name__)

Delivery = Literal["delivered", "already_delivered", "unknown"]

# How long a row claimed by ``due`` is left alone: time enough for its message to be handled.
CLAIM = timedelta(seconds=60)
# A receiver's error page is not worth storing whole.
_MAX_ERROR_CHARS = 500


class DeliveryFailed(TransientError):
    """Raised when a notification could not be delivered this time and should be retried."""


def notification_id(key: str) -> str:
    """The stable id of the notification for an effect named by ``key`` ("ntf_" + 24 hex)."""
    return "ntf_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def write(
    conn: Connection,
    *,
    type: str,  # shadows the builtin, but it is the name the spec and payload use
    member_id: str,
    key: str,
    data: Mapping[str, Any],
    now: datetime,
) -> str:
    """Add a pending notification inside the caller's transaction; return its id.

    Writing the same ``key`` again (a retried effect) keeps the first row and returns the same
    id. Never commits: the notification must share the fate of the effect it announces.
    """
    if now.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got {now!r}")
    ntf_id = notification_id(key)
    document = {
        "type": type,
        "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {**data, "member_id": member_id},
    }
    values = {
        "id": ntf_id,
        "type": type,
        "member_id": member_id,
        "payload": canonical_json(document),
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }
    insert_once(conn, tables.outbox, values)
    return ntf_id


def due(engine: Engine, *, now: datetime, batch: int = 500) -> list[str]:
    """Claim pending notifications whose next attempt is due, most overdue first; return ids.

    Each is claimed by moving ``next_attempt_at`` to ``now + CLAIM`` only if it still holds the
    value we read (as ``sweeper.sweep`` does), so several sweepers do not all enqueue one.
    The caller enqueues the returned ids.
    """
    clock = tables.outbox.c.next_attempt_at
    return claim_pending(engine, tables.outbox, clock, clock <= now, now + CLAIM, batch)


class Notifier:
    """Writes the notifications of one event's effects, remembering their ids to send after
    the event's transaction commits."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(
        self,
        conn: Connection,
        *,
        type: str,  # shadows the builtin, but it is the name the spec and payload use
        member_id: str,
        key: str,
        data: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """``write`` a pending notification and remember its id."""
        self.written.append(
            write(conn, type=type, member_id=member_id, key=key, data=data, now=now)
        )


class Deliverer:
    """POSTs stored notifications to one URL, signed with Standard Webhooks headers."""

    def __init__(
        self,
        engine: Engine,
        url: str,
        secret: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        max_backoff_seconds: float = 3600.0,
        clock: Clock | None = None,
    ) -> None:
        sign(secret, "check", 0, b"")  # a malformed secret fails here, at start, not per message
        self._engine = engine
        self._url = url
        self._secret = secret
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._max_backoff = max_backoff_seconds
        self._clock: Clock = clock or SystemClock()

    def deliver(self, notification_id: str, *, now: datetime | None = None) -> Delivery:
        """Send one notification; mark it delivered on a 2xx, else record why and raise.

        Raises ``DeliveryFailed`` for a non-2xx answer (3xx included: a redirect is not
        followed) or any HTTP error, after recording the attempt and the next one's time, and
        ``TransientError`` when the database is unavailable. A delivered row is never resent.
        ``now`` defaults to the deliverer's clock.
        """
        now = now or self._clock.now()
        with unavailable_is_transient():
            return self._deliver(notification_id, now)

    def _deliver(self, ntf_id: str, now: datetime) -> Delivery:
        outbox = tables.outbox
        with reader(self._engine).connect() as conn:
            row = conn.execute(
                select(outbox.c.payload, outbox.c.status, outbox.c.attempts).where(
                    outbox.c.id == ntf_id
                )
            ).one_or_none()
        if row is None:
            return "unknown"
        if row.status == "delivered":
            return "already_delivered"

        # The signature covers these exact bytes, so send what was stored, never a re-encoding.
        body = row.payload.encode("utf-8")
        timestamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": ntf_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._secret, ntf_id, timestamp, body),
        }
        try:
            response = self._client.post(
                self._url, content=body, headers=headers, follow_redirects=False
            )
            error = None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"

        # Only a row not yet delivered changes: a racing delivery that succeeded must stay so.
        pending = update(outbox).where(outbox.c.id == ntf_id, outbox.c.status != "delivered")
        if error is None:
            with self._engine.begin() as conn:
                conn.execute(
                    pending.values(
                        status="delivered", delivered_at=now, attempts=outbox.c.attempts + 1
                    )
                )
            log.info("notification delivered", notification_id=ntf_id, attempts=row.attempts + 1)
            return "delivered"

        next_attempt_at = now + self._backoff(row.attempts + 1)
        with self._engine.begin() as conn:
            moved = conn.execute(
                pending.values(
                    attempts=outbox.c.attempts + 1,
                    last_error=error[:_MAX_ERROR_CHARS],
                    next_attempt_at=next_attempt_at,
                )
            )
        if moved.rowcount == 0:
            return "already_delivered"
        log.warning(
            "notification delivery failed",
            notification_id=ntf_id,
            attempts=row.attempts + 1,
            error=error,
            next_attempt_at=next_attempt_at.isoformat(),
        )
        raise DeliveryFailed(f"notification {ntf_id} not delivered: {error}")

    def _backoff(self, failures: int) -> timedelta:
        # 1s, 2s, 4s … without jitter, so a test can predict it; the exponent is capped first
        # so a row that failed thousands of times does not overflow a float.
        return timedelta(seconds=min(2.0 ** min(failures - 1, 64), self._max_backoff))

    def close(self) -> None:
        """Close the HTTP client if this deliverer created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
