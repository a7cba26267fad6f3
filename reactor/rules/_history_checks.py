"""Load-time checks of history function calls, beyond what the expression gate checks.

The gate checks argument counts; here ``period``, ``within``, ``unit`` and field names are
checked when the rule loads, so ``reactor rules check`` reports them at their place in the file.
Positions come from the expression itself, with the same corrections the gate's have (leading
indentation, non-ASCII text before the problem).
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from reactor.errors import ExpressionError, did_you_mean
from reactor.expressions import (
    FIELD_FUNCTIONS,
    HISTORY_CONTROLS,
    HISTORY_FUNCTIONS,
    RESERVED,
    Expression,
)
from reactor.periods import PERIOD_CHOICES, PERIODS, parse_duration


def check_history_calls(
    expression: Expression, fields: Collection[str] | None
) -> list[ExpressionError]:
    """Every problem with the history function calls of ``expression``, at their positions."""
    return [
        ExpressionError(message, *expression.position_of(node))
        for call in ast.walk(expression.tree)
        if isinstance(call, ast.Call)
        for message, node in check_call(call, fields)
    ]


def exact_thresholds(expression: Expression) -> list[ExpressionError]:
    """Warnings, not errors: each ``==`` between a history call and something else.

    ``count(...) == 5`` holds while events come in time order, but an event that arrives after
    later ones were processed is evaluated with its own count: the rule can then fire for two
    events, or for none. ``>= 5`` with a ``limit`` of one firing per period holds either way.
    """
    found = []
    for node in ast.walk(expression.tree):
        if not isinstance(node, ast.Compare) or not any(isinstance(o, ast.Eq) for o in node.ops):
            continue
        for part in (node.left, *node.comparators):
            if (
                isinstance(part, ast.Call)
                and isinstance(part.func, ast.Name)
                and part.func.id in HISTORY_FUNCTIONS
                and part.func.id != "days_since"
            ):
                name = part.func.id
                message = (
                    f"{name}() == … without a limit can fire twice, or never, when an event "
                    f"arrives late; write {name}(…) >= N with limit: {{count: 1, per: …}}"
                )
                found.append(ExpressionError(message, *expression.position_of(node)))
                break
    return found


def check_call(node: ast.Call, fields: Collection[str] | None) -> list[tuple[str, ast.AST]]:
    """Every problem with one call of a history function that can be seen when the rule loads,
    each with the node it is about.

    ``period``, ``within``, ``unit`` and the field argument must be constants of the right
    form; with ``fields`` given, filters and the field's first segment must name one of them.
    Filter values may be any expression. Calls of other functions give no problems here.
    """
    name = node.func.id if isinstance(node.func, ast.Name) else ""
    if name not in HISTORY_FUNCTIONS:
        return []
    problems: list[tuple[str, ast.AST]] = []

    def refuse(message: str, at: ast.AST) -> None:
        problems.append((message, at))

    arguments: list[tuple[str, ast.expr, ast.AST]]
    arguments = [(kw.arg, kw.value, kw) for kw in node.keywords if kw.arg is not None]
    if node.args and name in FIELD_FUNCTIONS:
        field = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
        if not isinstance(field, str) or not all(field.split(".")):
            message = f"the field for {name}() must be a constant like 'duration' or 'meta.stars'"
            refuse(message, node.args[0])
        elif fields is not None and (first := field.split(".")[0]) not in fields:
            refuse(
                f"unknown field {first!r} for {name}(){did_you_mean(first, fields)}", node.args[0]
            )
    elif node.args and name == "streak":
        arguments.insert(0, ("unit", node.args[0], node.args[0]))
    seen: set[str] = set()
    for key, value, at in arguments:
        constant = value.value if isinstance(value, ast.Constant) else ...  # ... = not constant
        if key in seen:
            refuse(f"{key} for {name}() is given twice", at)
        elif key in RESERVED and key not in HISTORY_CONTROLS[name]:
            refuse(f"{name}() takes no {key!r}", at)
        elif key == "period" and (constant is ... or constant not in (None, *PERIODS)):
            refuse(f"period for {name}() must be {PERIOD_CHOICES}, not {_source(value)}", value)
        elif key == "within" and constant is ...:
            refuse(f"within for {name}() must be a constant like '7d', not {_source(value)}", value)
        elif key == "within" and constant is not None:
            try:
                parse_duration(constant)  # type: ignore[arg-type]  # it refuses non-strings
            except ValueError as exc:
                refuse(f"within for {name}(): {exc}", value)
        elif key == "unit" and constant not in PERIODS:
            refuse(f"unit for {name}() must be {PERIOD_CHOICES}, not {_source(value)}", value)
        elif key == "type":
            items = value.elts if isinstance(value, ast.Tuple | ast.List) else [value]
            for item in items:
                if isinstance(item, ast.Constant) and not isinstance(item.value, str):
                    refuse(f"type for {name}() must be an event type, not {item.value!r}", item)
        elif key not in RESERVED and fields is not None and key not in fields:
            refuse(f"unknown field {key!r} for {name}(){did_you_mean(key, fields)}", at)
        seen.add(key)
    return problems


def _source(node: ast.expr) -> str:
    return repr(node.value) if isinstance(node, ast.Constant) else ast.unparse(node)
