"""A decision record as a person reads it (``reactor explain``)."""

from __future__ import annotations

from typing import Any

from reactor.effects import describe


def render(view: dict[str, Any]) -> str:
    """The event, then each triggered rule: outcome, reason, points and what decided it."""
    lines = [
        f"event {view['id']} ({view['type']}) for member {view['member_id']}: {view['status']}",
        f"  occurred {view['occurred_at']}, received {view['received_at']}",
    ]
    if view.get("rules_version"):
        lines.append(f"  rules version {view['rules_version']}")
    if view.get("error"):
        lines.append(f"  error: {view['error']}")
    if not view["decisions"]:
        lines.append("  no rule was triggered by this event")
    for decision in view["decisions"]:
        lines.extend(_decision(decision))
    return "\n".join(lines)


def _decision(decision: dict[str, Any]) -> list[str]:
    reason = f" ({decision['reason']})" if decision["reason"] else ""
    effects = ", ".join(describe(e) for e in decision["effects"])
    head = f"  {decision['rule_id']}@{decision['rule_version']}: {decision['outcome']}{reason}"
    lines = [f"{head} {effects}".rstrip()]
    values = dict(decision["values"])
    for call, result in values.pop("history", {}).items():
        lines.append(f"      {call} = {result!r}")
    for name in ("limit", "budget"):
        cap = values.pop(name, None)
        if cap is not None:
            lines.append(f"      {name} {cap['period']}: {_usage(cap)}")
    for name, value in values.items():
        lines.append(f"      {name} = {value!r}")
    return lines


def _usage(cap: dict[str, Any]) -> str:
    parts = [
        f"{cap[kind]['used']} of {cap[kind]['of']} {label} used"
        for kind, label in (("count", "times"), ("points", "points"))
        if kind in cap
    ]
    return ", ".join(parts)
