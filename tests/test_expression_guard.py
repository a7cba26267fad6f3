"""The guard: a condition's leading field tests refute it exactly when simpleeval says False."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reactor.expressions import HELPER_IMPLS, HELPERS, Expression, compile_expression, freeze

NAMES = ("action", "channel", "signal", "tags", "meta", "product_id", "hour")
FEEDBACK = {"action": "feedback", "channel": "app", "signal": 1, "tags": ("review",)}


def compile_(source: str) -> Expression:
    return compile_expression(source, names=NAMES, functions=HELPERS)


def names(**values: Any) -> dict[str, Any]:
    defaults = dict.fromkeys(NAMES)
    return {**defaults, **{k: freeze(v) for k, v in values.items()}}


REFUTES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("equal, false", 'action == "view" and len(tags) > 1', FEEDBACK, True),
    ("equal, true", 'action == "feedback" and signal == 1', FEEDBACK, False),
    ("second test false", 'action == "feedback" and channel == "email"', FEEDBACK, True),
    ("not equal", 'channel != "app" and 1 / (signal - 1)', FEEDBACK, True),
    ("in a list", 'channel in ("email", "push")', FEEDBACK, True),
    ("in a list, true", 'channel in ["app", "website"]', FEEDBACK, False),
    ("not in", 'action not in ("feedback", "view")', FEEDBACK, True),
    ("number", "signal == -1 and action is None", FEEDBACK, True),  # -1 is folded at load
    ("missing field", 'action == "feedback"', {}, True),  # None == "feedback"
    ("a call first", 'len(action) == 4 and action == "view"', FEEDBACK, False),
    ("or", 'action == "view" or channel == "app"', FEEDBACK, False),
    ("in text is not taken", 'action in "feedback form"', {}, False),  # would raise on None
    ("chained", 'action == channel == "app"', FEEDBACK, False),
    ("attribute", 'meta.kind == "x"', FEEDBACK, False),
]


@pytest.mark.parametrize(
    ("source", "values", "refuted"),
    [(source, values, refuted) for _, source, values, refuted in REFUTES],
    ids=[case[0] for case in REFUTES],
)
def test_leading_field_tests_refute_a_condition(
    source: str, values: dict[str, Any], refuted: bool
) -> None:
    """Only bare-name comparisons with constants, before anything else in an and-chain."""
    assert compile_(source).guard.refutes(names(**values)) is refuted


def test_a_name_not_bound_yet_ends_the_check() -> None:
    """Names bound per time zone (hour) are not in the event's names: the guard stays quiet."""
    guard = compile_('hour == 5 and action == "view"').guard
    assert guard.refutes({"action": "feedback"}) is False


GUARDED = [
    'action == "feedback" and channel in ("app", "website") and signal == 1',
    'channel != "support" and action not in ("view", "reach") and len(tags) > 0',
    'action in ("visit", "view") and product_id == "sku-1"',
    'signal == 1 and tags == ("review",)',
]
VALUES = st.one_of(
    st.none(),
    st.sampled_from(["feedback", "view", "visit", "reach", "app", "website", "support", "sku-1"]),
    st.integers(-1, 1),
    st.booleans(),
    st.lists(st.sampled_from(["review", "vip"]), max_size=2),
    st.dictionaries(st.sampled_from(["kind"]), st.integers(), max_size=1),
)


@given(
    source=st.sampled_from(GUARDED),
    values=st.fixed_dictionaries({name: VALUES for name in NAMES}),
)
def test_whenever_the_guard_refutes_simpleeval_says_false(
    source: str, values: dict[str, Any]
) -> None:
    """The guard is only a shortcut: it never claims False where evaluation would not."""
    expression = compile_(source)
    frozen = {k: freeze(v) for k, v in values.items()}
    if expression.guard.refutes(frozen):
        assert expression.evaluate(frozen, HELPER_IMPLS) is False
