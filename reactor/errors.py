"""Every error Reactor raises on purpose, grouped by who handles it."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any


class ReactorError(Exception):
    """Base class for all of Reactor's own errors."""


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --- rule authoring: shown by the CLI as ``file:line:col: message`` ---------------------------


@dataclass(frozen=True)
class Problem:
    """One rule-authoring problem at a place in a file."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class RuleError(ReactorError):
    """Raised when a rule set cannot be loaded; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ExpressionError(ReactorError):
    """Raised when an expression is refused by the allow-list gate (position is in the text)."""

    def __init__(self, message: str, line: int = 1, col: int = 1) -> None:
        self.message = message
        self.line = line
        self.col = col
        super().__init__(message)


class EvaluationError(ReactorError):
    """Raised when a loaded expression fails on one event (recorded as a rule ``error``)."""


# --- receiver input: answered with a 4xx and a JSON body ----------------------------------


@dataclass
class InputError(ReactorError):
    """Raised when a client sent something we refuse; knows its HTTP status and error code."""

    status: int
    code: str
    message: str
    details: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


# --- processing: the worker retries transient errors and records permanent ones ----------------


class TransientError(ReactorError):
    """Raised when processing may succeed if tried again (database down, lock timeout)."""


class PermanentError(ReactorError):
    """Raised when an event can never be processed; the event is marked failed with the reason."""


class ConfigError(ReactorError):
    """Raised when settings are missing or wrong at start-up."""
