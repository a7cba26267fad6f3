"""The ``reactor`` command line: serve, worker, rules check, db upgrade, requeue, explain."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import structlog

from reactor import migrations
from reactor.config import Settings, load_settings
from reactor.errors import ConfigError, RuleError
from reactor.logs import configure_logging
from reactor.ruleset import load_rules, rule_files


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.ClickException(f"bad configuration: {exc}") from exc


def _check_rules(path: Path, timezone: str) -> None:
    try:
        load_rules(path, timezone)
    except RuleError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1) from exc


@click.group()
def main() -> None:
    """Reactor: turns customer interactions into rewards, exactly once."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the receiver and API (and, with the embedded broker, the workers)."""
    import uvicorn

    from reactor.app import create_app
    from reactor.runtime import Runtime

    settings = _settings()
    configure_logging(settings)
    _check_rules(settings.rules_path, settings.timezone)
    if settings.is_sqlite:
        # The embedded default sets itself up; shared databases migrate in a release step.
        migrations.upgrade(settings.database_url)
    try:
        runtime = Runtime(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    structlog.get_logger("reactor.cli").info("serving", url=f"http://{host}:{port}")
    uvicorn.run(create_app(runtime), host=host, port=port, log_level="warning")


@main.command()
@click.option("--processes", type=int, help="Worker processes [REACTOR_WORKER_PROCESSES]")
@click.option("--threads", type=int, help="Threads per process [REACTOR_WORKER_THREADS]")
def worker(processes: int | None, threads: int | None) -> None:
    """Run Dramatiq workers for the Redis (or RabbitMQ) broker."""
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from reactor.runtime import NOTIFICATIONS, QUEUE

    settings = _settings()
    if settings.embedded_broker:
        raise click.ClickException(
            "REACTOR_BROKER_URL is not set: with the embedded broker, `reactor serve` runs the "
            "workers itself"
        )
    _check_rules(settings.rules_path, settings.timezone)
    args = make_argument_parser().parse_args(  # type: ignore[no-untyped-call]
        [
            "reactor.worker:setup",
            "--processes",
            str(processes or settings.worker_processes),
            "--threads",
            str(threads or settings.worker_threads),
            "--queues",
            QUEUE,
            NOTIFICATIONS,
        ]
    )
    sys.exit(dramatiq_main(args))  # type: ignore[no-untyped-call]


@main.group()
def rules() -> None:
    """Check rule files."""


@rules.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def rules_check(path: Path | None) -> None:
    """Validate every rule file under PATH (default: REACTOR_RULES_PATH)."""
    settings = _settings()
    target = path or settings.rules_path
    try:
        ruleset = load_rules(target, settings.timezone)
    except RuleError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        click.echo(f"{len(exc.problems)} problem(s) found", err=True)
        raise SystemExit(1) from exc
    files = len(rule_files(target))
    click.echo(f"ok: {len(ruleset.rules)} rules in {files} file(s), version {ruleset.version}")


@main.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (run once per release)."""
    settings = _settings()
    migrations.upgrade(settings.database_url)
    click.echo("database is up to date")


@main.command()
def requeue() -> None:
    """Re-enqueue pending and failed events."""
    from reactor.runtime import Runtime
    from reactor.sweeper import requeue_all

    settings = _settings()
    if settings.embedded_broker:
        raise click.ClickException(
            "with the embedded broker, restart `reactor serve`: its sweeper picks up pending events"
        )
    runtime = Runtime(settings)
    count = requeue_all(runtime.engine, runtime.enqueue)
    click.echo(f"requeued {count} event(s)")


@main.command()
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def explain(event_id: str, as_json: bool) -> None:
    """Print an event's decision record."""
    from reactor import queries
    from reactor.db import make_engine
    from reactor.explain import render

    settings = _settings()
    view = queries.event_view(make_engine(settings.database_url), event_id)
    if view is None:
        raise click.ClickException(f"no event {event_id!r}")
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    click.echo(render(view))
