"""A rule expression, gated and parsed once at load, then evaluated many times (spec §4, I6).

Loading folds the constant parts: every sub-expression built only from literals and plain
helpers (``'%05d' % 1``, ``'x' * 3``, ``len("abc")``) is evaluated once, with the evaluator's
own operators and caps, and replaced by its value. One that raises can never evaluate, on any
event, so it is a load error at its place in the text instead of an error on every event.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactor.errors import EvaluationError
from reactor.expressions._evaluator import evaluate
from reactor.expressions._gate import FunctionSpec, Positions, parse_checked
from reactor.expressions._guard import Guard, guard_of
from reactor.expressions._helpers import HELPER_IMPLS


def compile_expression(
    source: str, *, names: Collection[str], functions: Mapping[str, FunctionSpec]
) -> Expression:
    """Check ``source`` against the allow-list gate and return it ready to evaluate.

    ``names`` are the data names it may read, ``functions`` the functions it may call.
    Raises ExpressionError (with a 1-based line and column in ``source``) on the first problem:
    a construct the gate refuses, or a constant part that cannot be evaluated.
    """
    tree = parse_checked(source, names, functions)
    called = {
        id(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    read: set[str] = set()
    calls: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (calls if id(node) in called else read).add(node.id)
    pure = {name: HELPER_IMPLS[name] for name in functions if name in HELPER_IMPLS}
    folded = _Folder(source, pure).fold(tree)
    return Expression(source, frozenset(read), frozenset(calls), tree, folded, guard_of(folded))


@dataclass(frozen=True)
class Expression:
    """A gated, parsed expression; ``names_used`` and ``functions_used`` say what it reads."""

    source: str
    names_used: frozenset[str]
    functions_used: frozenset[str]
    #: The tree as written, for load-time checks of particular calls.
    tree: ast.expr = field(repr=False, compare=False)
    #: The tree evaluated: the written one with its constant parts folded.
    _folded: ast.expr = field(repr=False, compare=False)
    #: Its leading field tests, to skip evaluating it when they are false (see ``_guard``).
    guard: Guard = field(repr=False, compare=False)

    def position_of(self, node: ast.AST) -> tuple[int, int]:
        """Where a node of ``tree`` is in ``source``, as 1-based (line, col)."""
        return Positions(self.source).of(node)

    def evaluate(
        self, names: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
    ) -> Any:
        """Evaluate against frozen ``names`` (see ``freeze``) and pure ``functions``.

        Raises EvaluationError on any failure, except TransientError and PermanentError from a
        function (a history query), which pass through.
        """
        return evaluate(self.source, self._folded, names, functions)


# Nodes whose value is fixed once all their parts are: literals, operators, reads, and calls of
# the plain helpers (which are pure). A Name is never constant; nor is a history function.
_FOLDABLE = (
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Tuple,
    ast.List,
    ast.Attribute,
    ast.Subscript,
)
_NO_NAMES: Mapping[str, Any] = {}


class _Folder:
    """Replaces each constant sub-expression by its value, bottom up."""

    def __init__(self, source: str, pure: Mapping[str, Callable[..., Any]]) -> None:
        self.source = source
        self.pure = pure
        self.where: Positions | None = None  # built only when a part fails

    def fold(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Constant | ast.Name):
            return node
        folded = _with_children(node, self.fold)
        if not self._constant(folded):
            return folded
        try:
            value = evaluate(self.source, folded, _NO_NAMES, self.pure)
        except EvaluationError as exc:
            self.where = self.where or Positions(self.source)
            raise self.where.error(f"this part can never be evaluated: {exc}", node) from None
        return ast.copy_location(ast.Constant(value), node)

    def _constant(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in self.pure):
                return False
            parts = [*node.args, *(keyword.value for keyword in node.keywords)]
        elif isinstance(node, _FOLDABLE):
            parts = [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)]
        else:
            return False
        return all(isinstance(part, ast.Constant) for part in parts)


def _with_children(node: ast.expr, fold: Callable[[ast.expr], ast.expr]) -> ast.expr:
    """A copy of ``node`` with every child expression folded (a function's name is kept)."""

    def part(value: Any) -> Any:
        if isinstance(value, ast.keyword):
            folded = ast.keyword(arg=value.arg, value=fold(value.value))
            return ast.copy_location(folded, value)
        return fold(value) if isinstance(value, ast.expr) else value

    fields = {}
    for name, value in ast.iter_fields(node):
        if isinstance(node, ast.Call) and name == "func":
            fields[name] = value
        elif isinstance(value, list):
            fields[name] = [part(item) for item in value]
        else:
            fields[name] = part(value)
    return ast.copy_location(type(node)(**fields), node)
