"""Rule changes without restarts: a watcher that validates an edited rule set, then swaps it in.

A broken edit is logged with every problem and the running rule set stays in place (I6).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from reactor.errors import RuleError
from reactor.rules import RuleSet, load_rules, rule_files

log = structlog.get_logger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(path: Path) -> Fingerprint:
    """What changes when a rule file is edited, added or removed: names, mtimes and sizes."""
    if not path.exists():
        return ()
    found = []
    for file in rule_files(path):
        try:
            stat = file.stat()
        except OSError:  # removed between listing and stat: the next look sees it gone
            continue
        found.append((str(file), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class RulesWatcher:
    """Polls the rules path every ``interval`` seconds; ``reload()`` checks now (SIGHUP)."""

    def __init__(
        self,
        path: Path,
        timezone: str,
        current: Callable[[], RuleSet],
        apply: Callable[[RuleSet], None],
        interval: float,
    ) -> None:
        self._path = path
        self._timezone = timezone
        self._current = current
        self._apply = apply
        self._interval = interval
        self._seen = fingerprint(path)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="reactor-rules", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def poll(self) -> bool:
        """Reload if the files changed since the last look; True when a new set was applied."""
        if fingerprint(self._path) == self._seen:
            return False
        return self.reload()

    def reload(self) -> bool:
        """Load and validate the rule set now; apply it if it loads and differs."""
        with self._lock:
            self._seen = fingerprint(self._path)
            try:
                rules = load_rules(self._path, self._timezone)
            except RuleError as exc:
                log.error(
                    "rule set refused; the running rules stay",
                    problems=[str(p) for p in exc.problems],
                    running_version=self._current().version,
                )
                return False
            if rules.version == self._current().version:
                return False
            self._apply(rules)
            log.info("rules reloaded", version=rules.version, rules=len(rules.rules))
            return True

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self.poll()
            except Exception:
                log.exception("watching the rules failed")
