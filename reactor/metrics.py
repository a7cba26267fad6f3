"""Prometheus metrics, served at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOKS = Counter("reactor_webhooks_total", "Webhook requests by answer status code.", ["status"])
EVENTS = Counter("reactor_events_total", "Events handled by the worker, by result.", ["result"])
DECISIONS = Counter("reactor_decisions_total", "Rule decisions by outcome.", ["outcome"])
PROCESSING = Histogram(
    "reactor_event_processing_seconds",
    "Time to process one event, transaction included.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
INTAKE_BATCH = Histogram(
    "reactor_intake_batch_size",
    "Webhooks stored by one commit of the receiver (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
WORKER_BATCH = Histogram(
    "reactor_worker_batch_size",
    "Events processed by one transaction of a worker.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
