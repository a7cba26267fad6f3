"""The ``reactor`` command line: serve, worker, rules check/test/schema, simulate, db upgrade,
requeue, explain."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
import structlog

from reactor.config import Settings, load_settings
from reactor.errors import ConfigError, RuleError
from reactor.logs import configure_logging
from reactor.rules import RuleSet, load_rules, rule_files

if TYPE_CHECKING:
    from fastapi import FastAPI

    from reactor.runtime import Runtime


class RuleProblems(click.ClickException):
    """A rule set that does not load: every problem on its own line, then exit code 1.

    Commands whose output is the answer (``rules check``, ``rules test``) print the problems on
    stdout; commands with other output (``serve``, ``worker``, ``simulate``) on stderr.
    """

    exit_code = 1

    def __init__(self, error: RuleError, *, on_stderr: bool, summary: bool = False) -> None:
        super().__init__(f"{len(error.problems)} problem(s) found")
        self.problems = error.problems
        self.on_stderr = on_stderr
        self.summary = summary

    def show(self, file: IO[Any] | None = None) -> None:
        for problem in self.problems:
            click.echo(str(problem), err=self.on_stderr)
        if self.summary:
            click.echo(self.message, err=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.ClickException(f"bad configuration: {exc}") from exc


def _load(path: Path, timezone: str, *, on_stderr: bool = True, summary: bool = False) -> RuleSet:
    try:
        return load_rules(path, timezone)
    except RuleError as exc:
        raise RuleProblems(exc, on_stderr=on_stderr, summary=summary) from exc


def _runtime(settings: Settings) -> Runtime:
    from reactor.runtime import Runtime

    try:
        return Runtime(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def main() -> None:
    """Reactor: turns customer interactions into rewards, exactly once."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    help="Receiver processes sharing the port (with a broker URL only) [REACTOR_SERVE_PROCESSES]",
)
def serve(host: str, port: int, processes: int | None) -> None:
    """Run the receiver and API (and, with the embedded broker, the workers)."""
    import uvicorn

    settings = _settings()
    configure_logging(settings)
    _load(settings.rules_path, settings.timezone)
    if settings.is_sqlite:
        # The embedded default sets itself up; shared databases migrate in a release step.
        from reactor.storage import migrations

        migrations.upgrade(settings.database_url)
    processes = processes or settings.serve_processes
    structlog.get_logger("reactor.cli").info(
        "serving", url=f"http://{host}:{port}", processes=processes
    )
    if processes > 1:
        if settings.embedded_broker:
            raise click.ClickException(
                "several receiver processes need REACTOR_BROKER_URL: the embedded broker lives "
                "inside one process"
            )
        # Each process builds its own runtime (its engine and broker connection) from the
        # same environment; the kernel spreads connections over them.
        uvicorn.run(
            "reactor.cli:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=processes,
            log_level="warning",
        )
        return
    from reactor.app import create_app

    uvicorn.run(create_app(_runtime(settings)), host=host, port=port, log_level="warning")


def app_from_environment() -> FastAPI:
    """The web app of one receiver process of ``serve --processes N``."""
    from reactor.app import create_app

    settings = _settings()
    configure_logging(settings)
    return create_app(_runtime(settings))


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
    _load(settings.rules_path, settings.timezone)
    args = make_argument_parser().parse_args(  # type: ignore[no-untyped-call]
        [
            "reactor.worker_process:setup",
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
    ruleset = _load(target, settings.timezone, on_stderr=False, summary=True)
    for warning in ruleset.warnings:
        file, line, col, message = warning.file, warning.line, warning.col, warning.message
        click.echo(f"{file}:{line}:{col}: warning: {message}")
    files = len(rule_files(target))
    click.echo(f"ok: {len(ruleset.rules)} rules in {files} file(s), version {ruleset.version}")


@rules.command("schema")
@click.option("--tests", "for_tests", is_flag=True, help="Print the *.test.yaml schema instead.")
def rules_schema(for_tests: bool) -> None:
    """Print the JSON Schema of rule files, for editors (see rules/README.md)."""
    from reactor.rules import rule_file_schema, rule_test_schema

    schema = rule_test_schema() if for_tests else rule_file_schema()
    click.echo(json.dumps(schema, indent=2))


@rules.command("test")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def rules_test(path: Path | None) -> None:
    """Run the rule tests (*.test.yaml) under PATH against the rules there."""
    import time

    from reactor.rules import CaseResult, find_test_files, render_rule_tests, run_rule_tests
    from reactor.sandbox import Sandbox

    settings = _settings()
    target = path or settings.rules_path
    rules_path = target.parent if target.is_file() else target
    ruleset = _load(rules_path, settings.timezone, on_stderr=False)
    files = find_test_files(target)
    if not files:
        raise click.ClickException(f"no *.test.yaml files under {target}")

    def show(result: CaseResult) -> None:
        verdict = "PASSED" if result.passed else "FAILED"
        click.echo(f"{result.file}::{result.name} {verdict}")

    started = time.perf_counter()
    report = run_rule_tests(ruleset, files, show, Sandbox)
    for line in render_rule_tests(report, time.perf_counter() - started):
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)


@main.command(name="simulate")
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), help="Rules to replay.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--compare",
    "compare_path",
    type=click.Path(path_type=Path),
    help="A second rule set: print what changing to it would do.",
)
def simulate_command(
    events: Path, rules_path: Path | None, as_json: bool, compare_path: Path | None
) -> None:
    """Replay EVENTS.jsonl through the rules in a throwaway database and report."""
    import time

    from reactor import simulate

    settings = _settings()
    lines = events.read_bytes().splitlines()

    def replay(path: Path) -> tuple[simulate.Simulation, float]:
        ruleset = _load(path, settings.timezone)
        bar = _progress(len(lines)) if sys.stderr.isatty() and not as_json else None
        started = time.perf_counter()
        result = simulate.simulate(ruleset, lines, bar)
        if bar is not None:
            click.echo("", err=True)
        return result, time.perf_counter() - started

    result, elapsed = replay(rules_path or settings.rules_path)
    if compare_path is not None:
        other, _ = replay(compare_path)
        if as_json:
            click.echo(json.dumps({"before": result.as_json(), "after": other.as_json()}, indent=2))
        else:
            click.echo("\n".join(simulate.render_comparison(result, other)))
        return
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        click.echo("\n".join(simulate.render(result, elapsed)))


def _progress(total: int) -> Callable[[int], None]:
    def show(done: int) -> None:
        if done % 500 == 0 or done == total:
            width = 30
            filled = int(width * done / max(total, 1))
            bar = "#" * filled + "-" * (width - filled)
            click.echo(f"\r[{bar}] {done:,}/{total:,} events", err=True, nl=False)

    return show


@main.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (run once per release)."""
    from reactor.storage import migrations

    settings = _settings()
    migrations.upgrade(settings.database_url)
    click.echo("database is up to date")


@main.command()
def requeue() -> None:
    """Re-enqueue pending and failed events."""
    from reactor.sweeper import requeue_all

    settings = _settings()
    if settings.embedded_broker:
        raise click.ClickException(
            "with the embedded broker, restart `reactor serve`: its sweeper picks up pending events"
        )
    runtime = _runtime(settings)
    count = requeue_all(runtime.engine, runtime.enqueue, now=runtime.clock.now())
    click.echo(f"requeued {count} event(s)")


@main.command()
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def explain(event_id: str, as_json: bool) -> None:
    """Print an event's decision record."""
    from reactor import queries
    from reactor.explain import render
    from reactor.storage import make_engine

    settings = _settings()
    view = queries.event_view(make_engine(settings.database_url), event_id)
    if view is None:
        raise click.ClickException(f"no event {event_id!r}")
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    click.echo(render(view))
