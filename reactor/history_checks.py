"""Load-time checks of history function calls, and what each of them accepts.

The gate (``expression_gate``) checks argument counts; here ``period``, ``within``, ``unit``
and field names are checked when the rule loads, so ``reactor rules check`` reports them at
their place in the file.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from reactor.errors import ExpressionError, did_you_mean
from reactor.expression_gate import FunctionSpec
from reactor.periods import PERIOD_CHOICES, PERIODS, parse_duration

_OF_FIELD = ("sum_of", "avg_of", "min_of", "max_of", "distinct")  # (field, ...)

HISTORY_FUNCTIONS: dict[str, FunctionSpec] = {
    "count": FunctionSpec("count", 0, 0, any_keywords=True),
    **{name: FunctionSpec(name, 1, 1, any_keywords=True) for name in _OF_FIELD},
    "streak": FunctionSpec("streak", 0, 1, any_keywords=True),
    "days_since": FunctionSpec("days_since", 0, 0, any_keywords=True),
}
"""What each history function accepts, for the gate; ``check_call`` checks the rest."""

CONTROLS: dict[str, frozenset[str]] = {
    "count": frozenset({"period", "within"}),
    **dict.fromkeys(_OF_FIELD, frozenset({"period", "within"})),
    "streak": frozenset({"unit"}),
    "days_since": frozenset(),
}
"""The keywords each function takes besides filters."""
RESERVED = frozenset({"period", "within", "unit"})
"""Keywords that are never filters, so ``streak(period=...)`` is refused, not a field match."""


def check_call(node: ast.Call, fields: Collection[str] | None) -> list[ExpressionError]:
    """Every problem with one call of a history function that can be seen when the rule loads.

    ``period``, ``within``, ``unit`` and the field argument must be constants of the right
    form; with ``fields`` given, filters and the field's first segment must name one of them.
    Filter values may be any expression. Calls of other functions give no problems here.
    """
    name = node.func.id if isinstance(node.func, ast.Name) else ""
    if name not in HISTORY_FUNCTIONS:
        return []
    problems: list[ExpressionError] = []

    def refuse(message: str, at: ast.AST) -> None:
        line, offset = getattr(at, "lineno", 1), getattr(at, "col_offset", 0)
        problems.append(ExpressionError(message, line, offset + 1))

    arguments: list[tuple[str, ast.expr, ast.AST]]
    arguments = [(kw.arg, kw.value, kw) for kw in node.keywords if kw.arg is not None]
    if node.args and name in _OF_FIELD:
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
        elif key in RESERVED and key not in CONTROLS[name]:
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
