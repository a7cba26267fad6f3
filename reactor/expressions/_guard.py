"""A condition's leading field tests, checked before simpleeval runs: the rule index.

Most rules an event triggers start with a test of a field against constants
(``action == "feedback" and ...``, ``channel in ("app", "website") and ...``), and for most
events that first test is false. ``Guard`` holds those leading tests of an ``and`` chain and
checks them in plain Python with the evaluator's own operators. Whenever one is false, the
whole condition is ``False`` whatever follows it, exactly as simpleeval's short-circuiting
``and`` would return; simpleeval then need not run at all. When they all pass, the guard says
nothing and the whole condition is evaluated as always.

Only tests that cannot fail are taken: a bare name compared by ``==`` or ``!=`` with a constant,
or by ``in`` / ``not in`` with a literal list of constants (never text, where ``in`` raises for
a non-text left side). The work these comparisons do is a few hundred units at most, far below
MAX_WORK, so simpleeval could not have stopped earlier for going over it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reactor.expressions._operators import OPERATORS

_MISSING: Any = object()
_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: OPERATORS[ast.Eq],
    ast.NotEq: OPERATORS[ast.NotEq],
    ast.In: OPERATORS[ast.In],
    ast.NotIn: OPERATORS[ast.NotIn],
}


@dataclass(frozen=True)
class Guard:
    """The leading ``name <op> constant`` tests of a condition, in order."""

    tests: tuple[tuple[str, Callable[[Any, Any], Any], Any], ...]

    def refutes(self, names: Mapping[str, Any]) -> bool:
        """True when a leading test is false for ``names``: the condition is then False.

        A name missing from ``names`` ends the check (it may be bound later, per time zone).
        """
        for name, compare, constant in self.tests:
            value = names.get(name, _MISSING)
            if value is _MISSING:
                return False
            if not compare(value, constant):
                return True
        return False


def guard_of(tree: ast.expr) -> Guard:
    """The guard of a gated, folded expression (empty when it does not start with such a test)."""
    if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And):
        conjuncts = tree.values
    else:
        conjuncts = [tree]
    tests = []
    for node in conjuncts:
        test = _test(node)
        if test is None:
            break
        tests.append(test)
    return Guard(tuple(tests))


def _test(node: ast.expr) -> tuple[str, Callable[[Any, Any], Any], Any] | None:
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        return None
    left, op, right = node.left, type(node.ops[0]), node.comparators[0]
    if not isinstance(left, ast.Name) or op not in _COMPARISONS:
        return None
    if op in (ast.In, ast.NotIn):
        # A literal list of constants: loading folded it into one constant tuple.
        if not (isinstance(right, ast.Constant) and isinstance(right.value, tuple)):
            return None
        items = right.value
        if not all(_is_plain(item) for item in items):
            return None
        return left.id, _COMPARISONS[op], tuple(items)
    if not (isinstance(right, ast.Constant) and _is_plain(right.value)):
        return None
    return left.id, _COMPARISONS[op], right.value


def _is_plain(value: Any) -> bool:
    """A text, number, bool or None: what the comparisons above cannot fail on."""
    return type(value) in (str, int, float, bool, type(None))
