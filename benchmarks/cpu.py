"""CPU time per process group, read from ``/proc`` (Linux): where a run's cycles went.

A group is a set of process trees (a root pid and its descendants, e.g. ``reactor worker`` and
the processes Dramatiq forks) or every process with a given command name (``postgres``,
``redis-server``). ``CpuMeter.start()`` and ``.stop()`` bracket the measured window; processes
that start or end inside it are counted for the part of it they were seen in at both ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, str, float] | None:
    """(parent pid, command, CPU seconds: user + system) of one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    command = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), command, (int(fields[11]) + int(fields[12])) / TICKS


def processes() -> dict[int, tuple[int, str, float]]:
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := _stat(int(name))) is not None:
            found[int(name)] = stat
    return found


def trees(*roots: int) -> Callable[[Mapping[int, tuple[int, str, float]]], set[int]]:
    """The processes under ``roots`` (the roots included)."""

    def select(processes: Mapping[int, tuple[int, str, float]]) -> set[int]:
        chosen = {root for root in roots if root in processes}
        grew = True
        while grew:
            more = {pid for pid, (parent, _, _) in processes.items() if parent in chosen}
            grew = not more <= chosen
            chosen |= more
        return chosen

    return select


def named(*commands: str) -> Callable[[Mapping[int, tuple[int, str, float]]], set[int]]:
    """Every process whose command name is one of ``commands``."""
    return lambda processes: {p for p, (_, c, _) in processes.items() if c in commands}


@dataclass
class CpuMeter:
    """CPU seconds of each named group between ``start`` and ``stop``."""

    groups: Mapping[str, Callable[[Mapping[int, tuple[int, str, float]]], set[int]]]
    _before: dict[int, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self._before = {pid: stat[2] for pid, stat in processes().items()}

    def stop(self) -> dict[str, float]:
        found = processes()
        for name, select in self.groups.items():
            self.seconds[name] = sum(
                found[pid][2] - self._before.get(pid, 0.0) for pid in select(found)
            )
        return self.seconds

    def per_event_ms(self, events: int) -> dict[str, float]:
        """Milliseconds of CPU per event by group, and ``all`` of them together."""
        split = {name: round(s * 1000 / events, 3) for name, s in self.seconds.items()}
        split["all"] = round(sum(self.seconds.values()) * 1000 / events, 3)
        return split


def describe(split: Mapping[str, float]) -> str:
    """``receiver 0.32, workers 1.30, …``: a CPU split as one line."""
    return ", ".join(f"{name} {ms:.2f}" for name, ms in split.items())
