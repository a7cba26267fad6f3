"""The operators expressions may use, made safe: numbers-only arithmetic, bounded joins.

simpleeval's defaults let ``"a" * 10**8`` and ``"%0500000000d" % 1`` build huge strings; here
``* / // %`` take numbers only, ``+`` joins text and lists up to a cap, and every integer result
stays within MAX_RESULT_INT.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from reactor.errors import EvaluationError
from reactor.expressions._frozen import Record
from reactor.expressions._helpers import MAX_LIST_LENGTH, MAX_TEXT_LENGTH, bounded, kind_of


def _arithmetic(symbol: str, apply: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """An operator for numbers only, so ``"a" * 10**8`` and ``"%0500000000d" % 1`` fail fast."""

    def safe(left: Any, right: Any) -> Any:
        if not (_is_number(left) and _is_number(right)):
            raise EvaluationError(
                f"{symbol} is only for numbers, not '{kind_of(left)}' and '{kind_of(right)}'"
            )
        return bounded(apply(left, right))

    return safe


def _add(left: Any, right: Any) -> Any:
    """+ on numbers, or joining two texts or two lists up to a length cap."""
    if _is_number(left) and _is_number(right):
        return bounded(left + right)
    for joinable, cap in ((str, MAX_TEXT_LENGTH), (tuple, MAX_LIST_LENGTH)):
        if type(left) is joinable and type(right) is joinable:
            if len(left) + len(right) > cap:
                raise EvaluationError(f"result of + is too long (the limit is {cap})")
            return left + right
    raise EvaluationError(
        f"unsupported operand types for +: '{kind_of(left)}' and '{kind_of(right)}'"
    )


def _unary(symbol: str, apply: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def safe(value: Any) -> Any:
        if not _is_number(value):
            raise EvaluationError(f"unary {symbol} is only for numbers, not '{kind_of(value)}'")
        return bounded(apply(value))

    return safe


def _ordering(symbol: str, apply: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def safe(left: Any, right: Any) -> bool:
        try:
            return apply(left, right)
        except TypeError:
            raise EvaluationError(
                f"cannot compare '{kind_of(left)}' and '{kind_of(right)}' with {symbol}"
            ) from None

    return safe


def _contains(item: Any, container: Any) -> bool:
    """``item in container`` for text (substring), lists (element) and mappings (key)."""
    if type(container) is str:
        if type(item) is not str:
            raise EvaluationError(f"'in' on text needs text on the left, not '{kind_of(item)}'")
        return item in container
    if type(container) is tuple or type(container) is Record:
        return item in container
    raise EvaluationError(f"'in' needs text, a list or a mapping, not '{kind_of(container)}'")


def _is_number(value: Any) -> bool:
    # bool counts as a number, as in Python: (stars >= 4) + (len(tags) > 0) is 0, 1 or 2.
    return isinstance(value, int | float)


OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: _add,
    ast.Sub: _arithmetic("-", operator.sub),
    ast.Mult: _arithmetic("*", operator.mul),
    ast.Div: _arithmetic("/", operator.truediv),
    ast.FloorDiv: _arithmetic("//", operator.floordiv),
    ast.Mod: _arithmetic("%", operator.mod),
    ast.USub: _unary("-", operator.neg),
    ast.UAdd: _unary("+", operator.pos),
    ast.Not: operator.not_,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: _ordering("<", operator.lt),
    ast.LtE: _ordering("<=", operator.le),
    ast.Gt: _ordering(">", operator.gt),
    ast.GtE: _ordering(">=", operator.ge),
    ast.In: _contains,
    ast.NotIn: lambda item, container: not _contains(item, container),
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
"""The operator table handed to simpleeval, keyed by AST operator type."""
