"""The HTTP API: ``POST /webhooks`` and the read endpoints of spec §5."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from reactor import __version__, metrics, queries
from reactor.errors import InputError
from reactor.receiver import GroupCommit, Receiver, check_content_type, read_capped
from reactor.runtime import Runtime
from reactor.storage import is_unavailable, ping

log = structlog.get_logger(__name__)


def error(status: int, code: str, message: str, details: list[Any] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, "details": details or []}, status)


def internal_error() -> JSONResponse:
    """500: our bug, not the client's; the caller logs it with its traceback."""
    return error(500, "internal_error", "an unexpected error occurred; it has been logged")


def unavailable_response(exc: DBAPIError) -> JSONResponse:
    """503 with Retry-After: the database is down or refusing connections."""
    log.warning("database unavailable", error=str(exc.orig))
    response = error(503, "unavailable", "the database is unavailable; retry later")
    response.headers["Retry-After"] = "5"
    return response


class WebhookFastPath:
    """``POST /webhooks`` straight to the receiver, past FastAPI's routing, dependency solving
    and exception middleware, which took about half of a webhook's CPU on the event loop
    (py-spy; benchmarks/README.md). Every other request goes on to FastAPI; the route stays
    declared (for ``/openapi.json``) and answers the same way."""

    def __init__(
        self,
        app: ASGIApp,
        take: Callable[[Mapping[str, str], AsyncIterator[bytes]], Awaitable[Response]],
    ) -> None:
        self.app = app
        self.take = take

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/webhooks" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            response = await self.take(Headers(scope=scope), _body(receive))
        except ClientDisconnect:
            return  # nobody is left to answer
        except Exception as exc:
            metrics.WEBHOOKS.labels("500").inc()
            log.error("unhandled error", path="/webhooks", exc_info=exc)
            response = internal_error()
        await response(scope, receive, send)


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives, as ``Request.stream()`` gives it."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def create_app(runtime: Runtime, *, run_workers: bool | None = None) -> FastAPI:
    """The web app. With the embedded broker it also runs the workers (and sweeper) in-process."""
    receiver = Receiver(runtime.engine, runtime.verifier, runtime.enqueue_many, runtime.clock)
    intake = GroupCommit(
        receiver.store,
        most=runtime.settings.intake_batch,
        window=runtime.settings.intake_window_ms / 1000,
    )
    embedded = runtime.settings.embedded_broker if run_workers is None else run_workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if embedded:
            runtime.start_embedded_worker()  # its boot hook starts the rules watcher
        else:
            runtime.watcher.start()  # GET /rules shows what the workers run
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # Only possible in the main thread (not when embedded in tests or another server).
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, runtime.watcher.reload)
        log.info("reactor started", **runtime.describe(), workers_in_process=embedded)
        try:
            yield
        finally:
            runtime.watcher.stop()
            runtime.stop()
            log.info("reactor stopped")

    app = FastAPI(title="Reactor", version=__version__, lifespan=lifespan)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return error(422, "invalid_request", "the request's parameters are invalid", details)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Our bug, not the client's: logged with its traceback, answered in the error format.
        log.error("unhandled error", path=request.url.path, exc_info=exc)
        return internal_error()

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if not is_unavailable(exc):
            return await _unexpected(request, exc)
        return unavailable_response(exc)

    async def take_webhook(
        headers: Mapping[str, str], stream: AsyncIterator[bytes]
    ) -> JSONResponse:
        """``POST /webhooks``, from the raw headers and body: what both the route and the fast
        path answer."""
        try:
            check_content_type(headers.get("content-type"))
            body = await read_capped(
                stream, headers.get("content-length"), runtime.settings.max_body_bytes
            )
            # Verifying and validating is a fraction of a millisecond of CPU: done here, on the
            # event loop; storing waits for the batch's commit in a worker thread.
            receipt = await intake.submit(receiver.prepare(body, headers))
        except InputError as exc:
            metrics.WEBHOOKS.labels(str(exc.status)).inc()
            return JSONResponse(exc.body(), exc.status)
        except DBAPIError as exc:
            unavailable = is_unavailable(exc)
            metrics.WEBHOOKS.labels("503" if unavailable else "500").inc()
            if not unavailable:
                log.error("unhandled error", path="/webhooks", exc_info=exc)
                return internal_error()
            return unavailable_response(exc)
        status = 202 if receipt.is_new else 200
        metrics.WEBHOOKS.labels(str(status)).inc()
        return JSONResponse({"id": receipt.event_id, "status": receipt.status}, status)

    @app.post("/webhooks", status_code=202)
    async def webhooks(request: Request) -> JSONResponse:
        return await take_webhook(request.headers, request.stream())

    app.add_middleware(WebhookFastPath, take=take_webhook)

    @app.get("/events/{event_id}")
    def get_event(event_id: str) -> JSONResponse:
        view = queries.event_view(runtime.engine, event_id)
        if view is None:
            return error(404, "not_found", f"no event {event_id!r}")
        return JSONResponse(view)

    @app.get("/members/{member_id}")
    def get_member(member_id: str) -> JSONResponse:
        view = queries.member_view(runtime.engine, member_id, runtime.rules, runtime.clock.now())
        if view is None:
            return error(404, "not_found", f"no member {member_id!r}")
        return JSONResponse(view)

    @app.get("/members/{member_id}/ledger")
    def get_ledger(
        member_id: str,
        cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> JSONResponse:
        page = queries.ledger_page(
            runtime.engine, member_id, int(cursor) if cursor else None, limit
        )
        if page is None:
            return error(404, "not_found", f"no member {member_id!r}")
        return JSONResponse(page)

    @app.get("/rules")
    def get_rules() -> dict[str, Any]:
        rules = runtime.rules
        return {
            "version": rules.version,
            "achievements": [
                {"id": a.id, "name": a.name, "version": a.version, "per": a.per}
                for a in rules.achievements.values()
            ],
            "benefits": [
                {"id": b.id, "name": b.name, "version": b.version} for b in rules.benefits.values()
            ],
            "rules": [
                {
                    "id": r.id,
                    "name": r.name,
                    "version": r.version,
                    "on": list(r.on),
                    "enabled": r.enabled,
                }
                for r in rules.rules
            ],
        }

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            ping(runtime.engine)
        except DBAPIError as exc:
            return error(503, "unavailable", f"database: {exc.orig}")
        return JSONResponse({"status": "ok", **runtime.describe()})

    @app.get("/metrics")
    def get_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
