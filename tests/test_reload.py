"""Rule changes without restarts: validated first, swapped atomically, broken sets refused."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from structlog.testing import capture_logs

from reactor.app import create_app
from reactor.reload import RulesWatcher
from reactor.rules import RuleSet, load_rules
from reactor.runtime import QUEUE, Runtime
from tests.conftest import make_settings
from tests.support import encode, interaction, post, serve_app, wait_for

RULE = "rules:\n  - id: r\n    on: interaction.created\n    then: [{points: %s}]\n"


class Holder:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    def set(self, rules: RuleSet) -> None:
        self.rules = rules


def edit(path: Path, text: str) -> None:
    path.write_text(text)
    # Make the change visible even on file systems with coarse timestamps.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_an_edited_rule_set_is_validated_then_swapped_in(tmp_path: Path) -> None:
    """A valid edit replaces the running set; nothing happens while the files are unchanged."""
    path = tmp_path / "r.yaml"
    path.write_text(RULE % 1)
    holder = Holder(load_rules(tmp_path))
    watcher = RulesWatcher(tmp_path, "UTC", lambda: holder.rules, holder.set, interval=0)
    assert watcher.poll() is False
    before = holder.rules.version
    edit(path, RULE % 2)
    assert watcher.poll() is True
    assert holder.rules.version != before
    assert [e.value for e in holder.rules.rules[0].effects] == [2]  # type: ignore[union-attr]


def test_a_broken_edit_is_logged_and_the_running_rules_stay(tmp_path: Path) -> None:
    """A rule set with a problem is refused whole; the log names the problem at file:line:col."""
    path = tmp_path / "r.yaml"
    path.write_text(RULE % 1)
    holder = Holder(load_rules(tmp_path))
    running = holder.rules
    watcher = RulesWatcher(tmp_path, "UTC", lambda: holder.rules, holder.set, interval=0)
    with capture_logs() as logs:
        edit(path, RULE % "'1 ** 9'")
        assert watcher.poll() is False
    assert holder.rules is running
    refused = next(e for e in logs if e["event"] == "rule set refused; the running rules stay")
    assert refused["problems"][0].startswith(f"{path}:4:")


def test_the_running_service_picks_up_an_edit(sqlite_url: str, tmp_path: Path) -> None:
    """Edit the rules of a running embedded Reactor: later events use the new version."""
    rules = tmp_path / "live-rules"
    rules.mkdir()
    path = rules / "r.yaml"
    path.write_text(RULE % 1)
    settings = make_settings(database_url=sqlite_url, rules_path=rules, rules_reload_seconds=0.1)
    runtime = Runtime(settings)
    with serve_app(create_app(runtime)) as base, httpx.Client(timeout=10) as client:
        old = client.get(f"{base}/rules").json()["rules"][0]["version"]
        edit(path, RULE % 5)
        wait_for(
            lambda: client.get(f"{base}/rules").json()["rules"][0]["version"] != old,
            timeout=10,
            what="the reload",
        )
        post(client, base, encode(interaction("evt_1")))
        runtime.broker.join(QUEUE, timeout=10_000)
        assert client.get(f"{base}/members/m1").json()["points"] == 5
        decision = client.get(f"{base}/events/evt_1").json()["decisions"][0]
        assert decision["rule_version"] != old
