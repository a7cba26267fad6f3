"""Shapes shared by the envelope, rule files and their schemas, each defined once here."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
"""What an event type looks like: dotted lowercase words, like interaction.created."""
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
"""What the id of a rule, achievement or benefit looks like: lowercase, digits, - and _."""

EventType = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN, max_length=100)]
RuleId = Annotated[str, StringConstraints(pattern=RULE_ID_PATTERN, max_length=100)]


class Strict(BaseModel):
    """The base of every model read from a file or a body: unknown keys are errors, and a
    validated model cannot be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
