"""Test helpers: a real HTTP server in a thread, envelopes, waiting for conditions."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from reactor.envelope import validate_envelope
from reactor.inbox import accept


def interaction(
    event_id: str, member: str = "m1", interaction_id: str | None = None, **data: Any
) -> dict[str, Any]:
    """An ``interaction.created`` envelope with sensible defaults (a product review)."""
    body: dict[str, Any] = {
        "profile_id": member,
        "action": "feedback",
        "channel": "website",
        "signal": 1,
        "name": "Reviewed a product",
        "namespace": "reviews",
        "interacted_type": "rating",
        "interacted_at": "2026-11-22T09:59:12+11:00",
        "meta": {"stars": 5},
    }
    if interaction_id is not None:
        body["id"] = interaction_id
    body.update(data)
    return {"id": event_id, "type": "interaction.created", "data": body}


def store(
    engine: sa.Engine,
    event_id: str,
    member: str = "m1",
    at: datetime | None = None,
    occurred: datetime | None = None,
) -> None:
    """Accept an interaction into the inbox as the receiver would (received ``at``, happened
    ``occurred``), without enqueueing it."""
    extra = {"interacted_at": occurred.isoformat()} if occurred else {}
    document = interaction(event_id, member, **extra)
    envelope, data = validate_envelope(document, None)
    accept(engine, envelope, data, document, at or datetime.now(UTC))


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


@contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", backlog=256)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def wait_for(
    condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05
) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def post(client: httpx.Client, base: str, body: bytes, **headers: str) -> httpx.Response:
    return client.post(
        f"{base}/webhooks",
        content=body,
        headers={"content-type": "application/json", **headers},
    )


class Workers:
    """`reactor worker` as a process group, stopped (or killed) at the end of the test."""

    def __init__(self, env: dict[str, str], processes: int, threads: int = 4) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reactor",
                "worker",
                "--processes",
                str(processes),
                "--threads",
                str(threads),
            ],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # the main process forwards it to its children
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
