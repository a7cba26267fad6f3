"""The plain helpers rules may call (abs, round, min, max, len, int, float, str, lower, upper).

Each is pure and bounded: it accepts only the types it names, and no result can grow without
limit, so a rule that loads stays fast on any input (spec I6).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from reactor.errors import EvaluationError
from reactor.expressions._frozen import Record
from reactor.expressions._gate import MAX_LITERAL_ITEMS, FunctionSpec

MAX_RESULT_INT = 10**30
"""The largest magnitude of an integer any operation or helper may produce."""
MAX_TEXT_LENGTH = 10_000
"""The longest text that + or str() may produce, in characters."""
MAX_LIST_LENGTH = 1_000
"""The longest list that + may produce."""
MAX_ROUND_DIGITS = 15
"""The largest ``ndigits`` round() accepts, either way."""
MAX_NUMBER_TEXT = 50
"""The longest text int() and float() convert."""


def kind_of(value: Any) -> str:
    """The name a rule author knows a value by: lists and mappings, not tuples and Records."""
    if value is None:
        return "None"
    if type(value) is tuple:
        return "list"
    if type(value) is Record:
        return "mapping"
    return type(value).__name__


def bounded(number: Any) -> Any:
    """Return ``number`` unless it is an int beyond MAX_RESULT_INT or a float that overflowed."""
    if isinstance(number, float):
        if not math.isfinite(number):
            raise EvaluationError("number too large")
    elif isinstance(number, int) and not -MAX_RESULT_INT <= number <= MAX_RESULT_INT:
        raise EvaluationError("number too large")
    return number


def _number(name: str, value: Any) -> int | float:
    if not isinstance(value, int | float):
        raise EvaluationError(f"{name}() needs a number, not {kind_of(value)}")
    return value


def _abs(value: Any) -> Any:
    return abs(_number("abs", value))


def _round(value: Any, ndigits: Any = None) -> Any:
    number = _number("round", value)
    if ndigits is None:
        return bounded(round(number))
    if type(ndigits) is not int or abs(ndigits) > MAX_ROUND_DIGITS:
        raise EvaluationError(
            f"round() ndigits must be an integer from -{MAX_ROUND_DIGITS} to {MAX_ROUND_DIGITS}"
        )
    return bounded(round(number, ndigits))


def _extreme(name: str, pick: Callable[..., Any], values: tuple[Any, ...]) -> Any:
    if len(values) == 1:
        (values,) = values
        if type(values) is not tuple:
            raise EvaluationError(f"{name}() needs a list or at least two values")
    if not values:
        raise EvaluationError(f"{name}() of an empty list")
    try:
        return pick(values)
    except TypeError:
        kinds = sorted({kind_of(value) for value in values})
        raise EvaluationError(f"{name}() cannot compare {' and '.join(kinds)}") from None


def _min(*values: Any) -> Any:
    return _extreme("min", min, values)


def _max(*values: Any) -> Any:
    return _extreme("max", max, values)


def _len(value: Any) -> int:
    if type(value) not in (str, tuple, Record):
        raise EvaluationError(f"len() needs text, a list or a mapping, not {kind_of(value)}")
    return len(value)


def _text_number(name: str, text: str) -> str:
    # int() of a long digit string is quadratic; real inputs are short.
    if len(text) > MAX_NUMBER_TEXT:
        raise EvaluationError(f"{name}() text is too long (the limit is {MAX_NUMBER_TEXT})")
    return text


def _int(value: Any) -> int:
    if type(value) is str:
        value = _text_number("int", value)
    else:
        _number("int", value)
    try:
        return int(bounded(int(value)))
    except (ValueError, OverflowError):  # int("x"), int(nan), int(inf)
        raise EvaluationError(f"int() cannot convert {value!r}") from None


def _float(value: Any) -> float:
    if type(value) is str:
        value = _text_number("float", value)
    else:
        _number("float", value)
    try:
        number = float(value)
    except ValueError:
        raise EvaluationError(f"float() cannot convert {value!r}") from None
    except OverflowError:  # an int beyond the float range
        raise EvaluationError("number too large") from None
    if not math.isfinite(number):  # float("nan"), float("1e999")
        raise EvaluationError(f"float() cannot convert {value!r}: numbers must be finite")
    return number


def _str(value: Any) -> str:
    if type(value) not in (str, int, float, bool, type(None)):
        raise EvaluationError(f"str() needs text, a number, a bool or None, not {kind_of(value)}")
    if type(value) is int:
        bounded(value)  # int → text is quadratic in the digits: 4,000 of them take 0.2 ms
    text = str(value)
    if len(text) > MAX_TEXT_LENGTH:
        raise EvaluationError(f"str() result is too long (the limit is {MAX_TEXT_LENGTH})")
    return text


def _lower(value: Any) -> str:
    if type(value) is not str:
        raise EvaluationError(f"lower() needs text, not {kind_of(value)}")
    return value.lower()


def _upper(value: Any) -> str:
    if type(value) is not str:
        raise EvaluationError(f"upper() needs text, not {kind_of(value)}")
    return value.upper()


HELPERS: dict[str, FunctionSpec] = {
    "abs": FunctionSpec("abs", 1, 1),
    "round": FunctionSpec("round", 1, 2, frozenset({"ndigits"})),
    "min": FunctionSpec("min", 1, MAX_LITERAL_ITEMS),
    "max": FunctionSpec("max", 1, MAX_LITERAL_ITEMS),
    "len": FunctionSpec("len", 1, 1),
    "int": FunctionSpec("int", 1, 1),
    "float": FunctionSpec("float", 1, 1),
    "str": FunctionSpec("str", 1, 1),
    "lower": FunctionSpec("lower", 1, 1),
    "upper": FunctionSpec("upper", 1, 1),
}
"""What each plain helper accepts, for the gate."""

HELPER_IMPLS: dict[str, Callable[..., Any]] = {
    "abs": _abs,
    "round": _round,
    "min": _min,
    "max": _max,
    "len": _len,
    "int": _int,
    "float": _float,
    "str": _str,
    "lower": _lower,
    "upper": _upper,
}
"""The plain helpers themselves, to pass to Expression.evaluate."""
