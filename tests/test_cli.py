"""The `reactor` command: serve as a real process, db upgrade, worker, explain, clean errors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from reactor.cli import main
from tests.support import encode, interaction, store, wait_for

ROOT = Path(__file__).parent.parent


def env_for(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
    env.update(values)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_reactor_serve_on_the_embedded_default_awards_points(tmp_path: Path) -> None:
    """The README's quick start: `reactor serve` from a clean folder, one event, points arrive."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reactor", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env_for(REACTOR_LOG_FORMAT="json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=5) as client:

            def healthy() -> bool:
                try:
                    return client.get(f"{base}/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(healthy, timeout=30, what="reactor serve to start")
            response = client.post(
                f"{base}/webhooks",
                content=encode(interaction("evt_1")),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 202
            wait_for(
                lambda: client.get(f"{base}/members/m1").json()["points"] == 60,
                timeout=20,
                what="the first review's 60 points",
            )
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal it caught.
    assert server.returncode in (0, -15), output.decode()
    assert b'"event": "reactor stopped"' in output
    assert (tmp_path / "reactor.db").exists()
    assert b'"event_id": "evt_1"' in output


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    """`reactor db upgrade` migrates the configured database and says so."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"REACTOR_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    again = CliRunner().invoke(main, ["db", "upgrade"], env={"REACTOR_DATABASE_URL": url})
    assert again.exit_code == 0


def test_worker_without_a_broker_explains_itself() -> None:
    """`reactor worker` with the embedded broker exits 1 with one clean line, no traceback."""
    result = CliRunner().invoke(main, ["worker"], env={"REACTOR_BROKER_URL": ""})
    assert result.exit_code == 1
    assert "REACTOR_BROKER_URL is not set" in result.output
    assert "Traceback" not in result.output


def test_bad_configuration_is_one_clean_line() -> None:
    """A wrong setting names itself instead of printing a traceback."""
    result = CliRunner().invoke(main, ["rules", "check"], env={"REACTOR_TIMEZONE": "Mars/Base"})
    assert result.exit_code == 1
    assert "unknown time zone 'Mars/Base'" in result.output
    assert "Traceback" not in result.output


def test_rules_check_of_a_missing_path_is_a_problem(tmp_path: Path) -> None:
    """A rules path that does not exist is reported like any other problem."""
    result = CliRunner().invoke(main, ["rules", "check", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output.startswith(f"{tmp_path / 'nope'}:1:1: no such file or directory")


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_explain_prints_the_decision_record(
    tmp_path: Path, sqlite_url: str, rules_dir: Path, as_json: bool
) -> None:
    """`reactor explain` shows each decision with its outcome and values."""
    from reactor.processor import process_event
    from reactor.runtime import Runtime
    from tests.conftest import make_settings

    runtime = Runtime(make_settings(database_url=sqlite_url, rules_path=rules_dir))
    store(runtime.engine, "evt_1")
    process_event(runtime.engine, runtime.rules, "evt_1", clock=runtime.clock)
    runtime.engine.dispose()
    args = ["explain", "evt_1", *(["--json"] if as_json else [])]
    result = CliRunner().invoke(main, args, env={"REACTOR_DATABASE_URL": sqlite_url})
    assert result.exit_code == 0, result.output
    if as_json:
        assert '"outcome": "fired"' in result.output
    else:
        assert "evt_1 (interaction.created) for member m1: processed" in result.output
        assert "one-point@" in result.output and "fired +1 points" in result.output
    missing = CliRunner().invoke(
        main, ["explain", "nope"], env={"REACTOR_DATABASE_URL": sqlite_url}
    )
    assert missing.exit_code == 1 and "no event 'nope'" in missing.output


def test_explain_reads_history_and_limits_as_sentences() -> None:
    """History calls, limits and budgets each get a line of their own."""
    from reactor.explain import render

    view = {
        "id": "evt_1",
        "type": "interaction.created",
        "member_id": "m1",
        "status": "processed",
        "occurred_at": "2026-11-16T12:00:00+00:00",
        "received_at": "2026-11-16T12:00:01+00:00",
        "rules_version": "abc",
        "error": None,
        "decisions": [
            {
                "rule_id": "first-review",
                "rule_version": "0123456789ab",
                "outcome": "skipped",
                "reason": "limit_reached",
                "effects": [],
                "values": {
                    "when": True,
                    "history": {"count(period='month', action='feedback')": 1},
                    "limit": {"period": "2026-11", "count": {"used": 1, "of": 1}},
                    "budget": {"period": "lifetime", "points": {"used": 40, "of": 1000}},
                },
            }
        ],
    }
    assert render(view).splitlines()[3:] == [
        "  first-review@0123456789ab: skipped (limit_reached)",
        "      count(period='month', action='feedback') = 1",
        "      limit 2026-11: 1 of 1 times used",
        "      budget lifetime: 40 of 1000 points used",
        "      when = True",
    ]


def test_several_receiver_processes_need_a_broker(tmp_path: Path) -> None:
    """The embedded broker lives in one process, so `serve --processes 2` refuses it."""
    env = {"REACTOR_BROKER_URL": "", "REACTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    result = CliRunner().invoke(main, ["serve", "--processes", "2"], env=env)
    assert result.exit_code != 0
    assert "REACTOR_BROKER_URL" in result.output
