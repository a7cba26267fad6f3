"""Evaluating a gated expression: simpleeval with our node handlers, on frozen data only.

Attribute and subscript reads work only on frozen data, arithmetic only on numbers (or bounded
text and list joins), the work one evaluation may do is capped, and every failure is an
EvaluationError. simpleeval is not thread-safe, so evaluators are pooled per thread.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable, Mapping
from typing import Any

from simpleeval import SimpleEval

from reactor.errors import EvaluationError, PermanentError, TransientError
from reactor.expressions._frozen import Record, list_weight, weight
from reactor.expressions._helpers import kind_of
from reactor.expressions._operators import OPERATORS


def evaluate(
    source: str,
    tree: ast.expr,
    names: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]],
) -> Any:
    """Evaluate the gated ``tree`` of ``source`` against frozen ``names`` and pure ``functions``.

    Raises EvaluationError on any failure, except TransientError and PermanentError from a
    function (a history query), which pass through: the worker retries or parks the event
    instead of recording the rule's error.
    """
    evaluator = _borrow_evaluator()
    evaluator.names = names
    evaluator.functions = dict(functions)  # a copy: nothing may touch the caller's mapping
    evaluator.work, evaluator.weights = 0, {}
    try:
        return evaluator.eval(source, previously_parsed=tree)
    except (EvaluationError, TransientError, PermanentError):
        raise
    except ZeroDivisionError:
        raise EvaluationError("division by zero") from None
    except (OverflowError, MemoryError):
        raise EvaluationError("number too large") from None
    except (TypeError, ValueError) as exc:
        raise EvaluationError(str(exc)) from exc
    except Exception as exc:  # the contract: nothing but EvaluationError escapes a rule
        raise EvaluationError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        # Drop references to event data.
        evaluator.names, evaluator.functions, evaluator.weights = {}, {}, {}
        _local.pool.append(evaluator)


MAX_WORK = 300_000
"""How much data one evaluation may go through, in units of ``records.weight`` (~16 ns each).

The node caps bound how many operations run; this bounds what they touch. Without it, 28
``upper()`` calls on a 250,000-character field took 150 ms; at the cap it stays near 5 ms.
"""

_FROZEN_TYPES = frozenset({str, int, float, bool, type(None), tuple, Record})


def _check_frozen(value: Any, what: str) -> Any:
    if type(value) not in _FROZEN_TYPES:
        raise EvaluationError(f"{what} is a {type(value).__name__}, not frozen data (see freeze)")
    return value


class _Evaluator(SimpleEval):  # type: ignore[misc]  # simpleeval ships no type information
    """simpleeval with only the handlers the gate allows, and data reads that cannot escape."""

    def __init__(self) -> None:
        # functions={} replaces simpleeval's defaults, which include rand() and randint().
        super().__init__(operators=dict(OPERATORS), functions={}, names={})
        self.work = 0  # see MAX_WORK; reset for every evaluation
        self.weights: dict[int, tuple[Any, int]] = {}  # id → (big tuple, its weight)
        self.nodes = {
            ast.Name: self._eval_name,
            ast.Constant: self._eval_constant,
            ast.UnaryOp: self._eval_unaryop,
            ast.BinOp: self._eval_binop,
            ast.BoolOp: self._eval_boolop,
            ast.Compare: self._eval_compare,
            ast.IfExp: self._eval_ifexp,
            ast.Call: self._eval_call,
            ast.Attribute: self._eval_attribute,
            ast.Subscript: self._eval_subscript,
            ast.Tuple: self._eval_literal,
            ast.List: self._eval_literal,
        }

    def _eval(self, node: ast.AST) -> Any:
        # No per-node scan for modules and callables (simpleeval's _check_disallowed_items):
        # names and call results are checked to be frozen data where they enter instead.
        return self.nodes[type(node)](node)

    def _eval_constant(self, node: ast.Constant) -> Any:
        return node.value

    def _eval_binop(self, node: ast.BinOp) -> Any:
        left, right = self._eval(node.left), self._eval(node.right)
        self._charge(self._weigh(left) + self._weigh(right))  # joins copy both sides
        return self.operators[type(node.op)](left, right)

    def _eval_compare(self, node: ast.Compare) -> Any:
        # As simpleeval's, plus the charge: == and in on big lists and texts are not free.
        right, result = self._eval(node.left), True
        for operation, comparator in zip(node.ops, node.comparators, strict=True):
            left, right = right, self._eval(comparator)
            if type(operation) in (ast.In, ast.NotIn):
                # A mapping looks its key up by hash; text and lists are scanned.
                self._charge(self._weigh(left if type(right) is Record else right))
            elif type(operation) not in (ast.Is, ast.IsNot):
                self._charge(min(self._weigh(left), self._weigh(right)))  # stops at the shorter
            result = self.operators[type(operation)](left, right)
            if not result:
                break
        return result

    def _charge(self, units: int) -> None:
        """Count work an operation is about to do against MAX_WORK, before it does it."""
        self.work += units
        if self.work > MAX_WORK:
            raise EvaluationError(
                f"expression goes through too much data (the limit is {MAX_WORK:,})"
            )

    def _weigh(self, value: Any) -> int:
        if type(value) is tuple:
            known = self.weights.get(id(value))
            if known is not None:
                return known[1]
        if type(value) is tuple and len(value) > 64:
            # Weighing a list walks it, so a big one is weighed once per evaluation. The memo
            # holds the tuple too, so its id cannot be reused by another while we run.
            memo = self.weights.get(id(value))
            if memo is None:
                memo = self.weights[id(value)] = (value, weight(value))
            return memo[1]
        return weight(value)

    def _eval_name(self, node: ast.Name) -> Any:
        try:
            value = self.names[node.id]
        except KeyError:
            raise EvaluationError(f"name '{node.id}' is not available") from None
        return _check_frozen(value, f"name '{node.id}'")

    def _eval_call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)  # the gate allows only calls of bare names
        name = node.func.id
        try:
            function = self.functions[name]
        except KeyError:
            raise EvaluationError(f"function '{name}' is not available") from None
        args = [self._eval(arg) for arg in node.args]
        # The gate refused **kwargs, so every keyword has a name.
        kwargs = {str(keyword.arg): self._eval(keyword.value) for keyword in node.keywords}
        # A function's work grows with what it is given.
        self._charge(sum(self._weigh(value) for value in (*args, *kwargs.values())))
        return _check_frozen(function(*args, **kwargs), f"the result of {name}()")

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        value = self._eval(node.value)
        if value is None:
            # A missing optional mapping reads like a missing key: `meta.stars` is None when the
            # event has no meta, so `meta.stars is not None and ...` works for every event.
            return None
        if type(value) is not Record:
            raise EvaluationError(f"cannot read attribute '{node.attr}' of {kind_of(value)}")
        return self._read(value, node.attr)

    def _read(self, record: Record, key: Any) -> Any:
        item = record[key]
        if type(item) is tuple:
            # Its weight was taken when the data was frozen: remember it for this evaluation.
            heavy = list_weight(record, key)
            if heavy is not None:
                self.weights[id(item)] = (item, heavy)
        return item

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container, key = self._eval(node.value), self._eval(node.slice)
        if container is None:
            return None  # as for attributes: reading into a missing mapping gives None
        if type(container) is Record:
            return self._read(container, key) if isinstance(key, str) else None
        if type(container) not in (tuple, str):
            raise EvaluationError(f"cannot read [{key!r}] of {kind_of(container)}")
        if type(key) is not int:
            raise EvaluationError(f"{kind_of(container)} positions are integers, not {key!r}")
        if not -len(container) <= key < len(container):
            length = len(container)
            raise EvaluationError(f"position {key} is outside a {kind_of(container)} of {length}")
        return container[key]

    def _eval_literal(self, node: ast.Tuple | ast.List) -> tuple[Any, ...]:
        # List literals become tuples too: nothing an expression builds can be mutated.
        return tuple(self._eval(element) for element in node.elts)


# simpleeval evaluators hold per-call state, so they are never shared between threads (8 threads
# sharing one read each other's names). A per-thread pool also covers re-entrant evaluation.
_local = threading.local()


def _borrow_evaluator() -> _Evaluator:
    pool: list[_Evaluator] | None = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = []
    return pool.pop() if pool else _Evaluator()
