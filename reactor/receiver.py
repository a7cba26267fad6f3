"""The webhook receiver: from raw request bytes to a durable, deduplicated event (I1, I9)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import structlog
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from reactor import metrics
from reactor.clock import Clock
from reactor.envelope import validate_envelope
from reactor.errors import InputError
from reactor.inbox import Answer, Delivery, Receipt, accept_many
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
    """Turns verified, parsed, validated webhooks into stored events, then rings the broker.

    ``prepare`` is the work of one request (verify, parse, validate); ``store`` is the work of
    a batch of them (one transaction and commit, then one doorbell for the new events).
    """

    def __init__(
        self,
        engine: Engine,
        verifier: WebhookVerifier | None,
        ring: Callable[[Sequence[str]], None],
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._verifier = verifier
        self._ring = ring
        self._clock = clock

    def prepare(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """Everything after the body is read and before it is stored; raises ``InputError``
        for client mistakes."""
        now = self._clock.now()
        if self._verifier is not None:
            self._verifier.verify(headers, body, now=now.timestamp())
        document = parse_json(body)
        envelope, member = validate_envelope(document, headers.get("webhook-id"))
        return Delivery.of(envelope, member, document, now)

    def store(self, deliveries: Sequence[Delivery]) -> list[Answer]:
        """Commit the deliveries together, then ring once for the new ones among them."""
        answers = accept_many(self._engine, deliveries)
        new = [a.event_id for a in answers if isinstance(a, Receipt) and a.is_new]
        if new:
            try:
                self._ring(new)
            except Exception:
                # The events are already durable; the sweeper enqueues them once the broker
                # is back.
                log.warning("could not enqueue; the sweeper will", events=len(new), exc_info=True)
        return answers

    def receive(self, body: bytes, headers: Mapping[str, str]) -> Receipt:
        """One webhook in a transaction of its own (for callers without an event loop)."""
        (answer,) = self.store([self.prepare(body, headers)])
        if isinstance(answer, InputError):
            raise answer
        return answer


class GroupCommit:
    """Group commit: the deliveries of concurrent requests share one transaction (I1).

    The first delivery to arrive starts a flush; it waits ``window`` seconds for company (not
    when ``most`` are already waiting), then stores up to ``most`` of them in a worker thread
    while the next ones gather. Each request is answered after the commit that stored it; when
    that commit fails, every request of the batch gets its exception, and none is stored.
    """

    def __init__(
        self,
        store: Callable[[Sequence[Delivery]], list[Answer]],
        *,
        most: int,
        window: float,
    ) -> None:
        self._store = store
        self._most = most
        self._window = window
        self._waiting: list[tuple[Delivery, asyncio.Future[Answer]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, delivery: Delivery) -> Receipt:
        """Store one delivery with whatever else arrives meanwhile; its receipt, once committed."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        answer = await future
        if isinstance(answer, InputError):
            raise answer
        return answer

    async def _flush(self) -> None:
        while self._waiting:
            if self._window > 0 and len(self._waiting) < self._most:
                await asyncio.sleep(self._window)
            batch, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
            try:
                answers = await run_in_threadpool(self._store, [d for d, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():  # a request whose client left is cancelled
                        future.set_exception(exc)
                continue
            metrics.INTAKE_BATCH.observe(len(batch))
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
