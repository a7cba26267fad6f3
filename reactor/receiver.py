"""The webhook receiver: from raw request bytes to a durable, deduplicated event (I1, I9)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import structlog
from sqlalchemy import Engine

from reactor.clock import Clock
from reactor.envelope import validate_envelope
from reactor.errors import InputError
from reactor.inbox import Receipt, accept
from reactor.signatures import WebhookVerifier
from reactor.strictjson import parse_json

log = structlog.get_logger(__name__)


def check_content_type(content_type: str | None) -> None:
    """415 unless the body is declared as JSON (UTF-8 is the only charset we read)."""
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise InputError(
            415, "unsupported_media_type", f"expected application/json, got {media or 'nothing'!r}"
        )
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise InputError(415, "unsupported_media_type", "only the utf-8 charset is accepted")


async def read_capped(stream: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """Read the body, counting the bytes actually received; 413 past ``limit``.

    uvicorn has no body limit of its own, and Content-Length can lie or be absent (chunked).
    """
    too_large = InputError(413, "payload_too_large", f"body is larger than {limit} bytes")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


class Receiver:
    """Turns verified, parsed, validated webhooks into stored events, then rings the broker."""

    def __init__(
        self,
        engine: Engine,
        verifier: WebhookVerifier | None,
        enqueue: Callable[[str], None],
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._verifier = verifier
        self._enqueue = enqueue
        self._clock = clock

    def receive(self, body: bytes, headers: Mapping[str, str]) -> Receipt:
        """Everything after the body is read; raises ``InputError`` for client mistakes."""
        now = self._clock.now()
        if self._verifier is not None:
            self._verifier.verify(headers, body, now=now.timestamp())
        document = parse_json(body)
        envelope, member = validate_envelope(document, headers.get("webhook-id"))
        receipt = accept(self._engine, envelope, member, document, now)
        if receipt.is_new:
            self._ring(receipt.event_id)
        return receipt

    def _ring(self, event_id: str) -> None:
        try:
            self._enqueue(event_id)
        except Exception:
            # The event is already durable; the sweeper enqueues it once the broker is back.
            log.warning("could not enqueue; the sweeper will", event_id=event_id, exc_info=True)
