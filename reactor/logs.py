"""Structured logging: JSON lines in production, readable lines in a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

from reactor.config import Settings


def configure_logging(settings: Settings) -> None:
    """Set up structlog (and route the standard library's logging through the same level).

    Writes with ``WriteLoggerFactory`` to the real stdout: ``BytesLoggerFactory()`` without a
    file made every actor fail in Dramatiq CLI worker processes (docs/dependencies.md).
    """
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    json_output = settings.log_format == "json" or (
        settings.log_format == "auto" and not (sys.__stdout__ and sys.__stdout__.isatty())
    )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=sys.__stdout__),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.__stderr__, force=True)
