"""Tests for the expression language: the allow-list gate, frozen data, evaluation, helpers."""

from __future__ import annotations

import ast
import copy
import datetime
import pickle
import sys
import threading
from typing import Any

import pytest

from reactor.errors import EvaluationError, ExpressionError, TransientError
from reactor.expressions import (
    HELPER_IMPLS,
    HELPERS,
    MAX_DEPTH,
    MAX_INT_CONSTANT,
    MAX_LITERAL_ITEMS,
    MAX_NODES,
    MAX_SOURCE_LENGTH,
    MAX_STRING_CONSTANT,
    MAX_WORK,
    Expression,
    FunctionSpec,
    Record,
    compile_expression,
    freeze,
    thaw,
)

NAMES = ("action", "channel", "meta", "event", "data", "tags", "x", "s", "n", "member", "t", "u")
FUNCTIONS: dict[str, FunctionSpec] = {
    **HELPERS,
    "count": FunctionSpec("count", 0, 0, frozenset({"period", "within"}), any_keywords=True),
}


def compile_(source: str) -> Expression:
    """Compile against the test names and the helpers plus a history-like ``count``."""
    return compile_expression(source, names=NAMES, functions=FUNCTIONS)


def evaluate(source: str, **names: Any) -> Any:
    """Compile ``source`` and evaluate it once against frozen ``names``."""
    frozen = {name: freeze(value) for name, value in names.items()}
    return compile_(source).evaluate(frozen, HELPER_IMPLS)


# --- the gate -------------------------------------------------------------------------------

HOSTILE: list[tuple[str, str, int, int, str]] = [
    ("dunder attribute", "x.__class__", 1, 3, "attributes starting with '_' are not allowed"),
    ("class walk", "().__class__.__bases__", 1, 14, "attributes starting with '_'"),
    ("dict of a mapping", "event.__dict__", 1, 7, "attributes starting with '_'"),
    ("underscore field", "meta._secret", 1, 6, "attributes starting with '_'"),
    ("dict method call", "data.items()", 1, 6, "method calls are not allowed"),
    ("dict get", 'meta.get("x")', 1, 6, "method calls are not allowed"),
    ("str method", '"a".upper()', 1, 5, "method calls are not allowed"),
    ("padding method", "s.ljust(200000000)", 1, 3, "method calls are not allowed"),
    ("power", "x ** 2", 1, 1, "power operator ** is not allowed"),
    ("huge power", "9**4000000", 1, 1, "power operator ** is not allowed"),
    ("list comprehension", "[t for t in tags]", 1, 1, "list comprehensions are not allowed"),
    ("set comprehension", "{t for t in tags}", 1, 1, "set comprehensions are not allowed"),
    ("dict comprehension", "{t: 1 for t in tags}", 1, 1, "dict comprehensions are not allowed"),
    ("generator", "(t for t in tags)", 1, 1, "generator expressions are not allowed"),
    ("generator argument", "len(t for t in tags)", 1, 4, "generator expressions are not allowed"),
    ("lambda", "lambda: 1", 1, 1, "lambda is not allowed"),
    ("f-string with width", "f'{x:>100000000}'", 1, 1, "f-strings are not allowed"),
    ("walrus", "(y := 1)", 1, 2, "assignment expressions (:=) are not allowed"),
    ("import statement", "import os", 1, 1, "statements are not allowed"),
    ("assignment", "x = 1", 1, 3, "assignments are not allowed; compare with =="),
    ("dunder import", '__import__("os")', 1, 1, "unknown function '__import__'"),
    ("getattr", 'getattr(x, "y")', 1, 1, "unknown function 'getattr'"),
    ("open", 'open("f")', 1, 1, "unknown function 'open'"),
    ("eval", 'eval("1")', 1, 1, "unknown function 'eval'"),
    ("simpleeval's rand", "rand()", 1, 1, "unknown function 'rand'"),
    ("slice", "tags[1:2]", 1, 6, "slices are not allowed"),
    ("reversing slice", "s[::-1]", 1, 3, "slices are not allowed"),
    ("computed index", "tags[x]", 1, 6, "only a constant string or integer"),
    ("starred argument", "len(*tags)", 1, 5, "starred arguments (*x) are not allowed"),
    ("starred in a list", "[*tags]", 1, 2, "starred expressions (*x) are not allowed"),
    ("double-star argument", "len(**meta)", 1, 5, "**kwargs are not allowed"),
    ("dict literal", '{"a": 1}', 1, 1, "dict literals are not allowed"),
    ("set literal", "{1, 2}", 1, 1, "set literals are not allowed"),
    ("bitwise and", "x & 1", 1, 1, "bitwise operator & is not allowed"),
    ("bitwise or", "x | 1", 1, 1, "bitwise operator | is not allowed"),
    ("bitwise xor", "x ^ 1", 1, 1, "bitwise operator ^ is not allowed"),
    ("bitwise not", "~x", 1, 1, "bitwise operator ~ is not allowed"),
    ("left shift", "x << 2", 1, 1, "shift operator << is not allowed"),
    ("right shift", "x >> 2", 1, 1, "shift operator >> is not allowed"),
    ("matmul", "x @ x", 1, 1, "matrix operator @ is not allowed"),
    ("too long", "x" + " + x" * 300, 1, MAX_SOURCE_LENGTH + 1, "expression is too long"),
    ("deep parentheses", "-(" * 25 + "x" + ")" * 25, 1, 41, "nested too deeply (over 20)"),
    ("deep not", "not " * 25 + "x", 1, 81, "nested too deeply (over 20)"),
    ("too many nodes", "x < " * 200 + "x", 1, 1, f"too complex (over {MAX_NODES} parts)"),
    ("huge int", "10000000000000000", 1, 1, "number is too large"),
    ("infinite float", "1e999", 1, 1, "numbers must be finite"),
    ("huge string", "'" + "a" * 201 + "'", 1, 1, "string is too long (201 characters"),
    ("bytes", "b'x'", 1, 1, "bytes literals are not allowed"),
    ("complex", "1j", 1, 1, "complex literals are not allowed"),
    ("ellipsis", "...", 1, 1, "'...' is not allowed"),
    ("long tuple", "x in (" + "1," * 21 + ")", 1, 6, "too many items in a literal (21"),
    (
        "unknown name",
        "actoin == 'feedback'",
        1,
        1,
        "unknown name 'actoin' (did you mean 'action'?)",
    ),
    ("unknown far name", "zzz", 1, 1, "unknown name 'zzz'"),
    ("unknown function", "lenn(tags)", 1, 1, "unknown function 'lenn' (did you mean 'len'?)"),
    ("function as a value", "len", 1, 1, "'len' is a function; call it like len(...)"),
    ("data as a function", "meta(1)", 1, 1, "'meta' is not a function"),
    ("call of a call result", "tags[0](1)", 1, 1, "only functions can be called"),
    ("too many arguments", "len(tags, tags)", 1, 1, "len() takes 1 argument (2 given)"),
    ("too few arguments", "round()", 1, 1, "round() takes 1 to 2 arguments (0 given)"),
    ("bad keyword", "round(x, digits=2)", 1, 10, "did you mean 'ndigits'?"),
    ("keyword to a plain helper", "len(tags, n=1)", 1, 11, "len() takes no keyword"),
    ("repeated keyword", "round(x, ndigits=1, ndigits=2)", 1, 21, "'ndigits' is repeated"),
    ("yield", "(yield x)", 1, 2, "yield is not allowed"),
    ("await", "await x", 1, 1, "await is not allowed"),
    ("semicolon", "x; x", 1, 2, "';' is not allowed"),
    ("two lines", "x\nx", 2, 1, "write one expression"),
    ("multi-line statement", "x = 1\ny = 2", 1, 3, "not a valid expression"),
    ("unfinished", "x if x else", 1, 12, "not a valid expression: invalid syntax"),
    ("invalid escape", "'\\d'", 1, 1, "invalid escape sequence"),
    ("empty", "   ", 1, 1, "expression is empty"),
    ("indented", "  x.__class__", 1, 5, "attributes starting with '_'"),
    ("on the second line", "(x and\n  x.__class__)", 2, 5, "attributes starting with '_'"),
    ("after non-ASCII text", "'é' + x.__class__", 1, 9, "attributes starting with '_'"),
]


@pytest.mark.parametrize(
    ("source", "line", "col", "message"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_expressions_are_refused_at_load_with_a_position(
    source: str, line: int, col: int, message: str
) -> None:
    """Each attempt is an ExpressionError naming the construct at its 1-based line:col."""
    with pytest.raises(ExpressionError) as caught:
        compile_(source)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.col) == (line, col)


def test_the_hostile_table_covers_at_least_forty_attempts() -> None:
    """The gate is exercised by a broad table, not a handful of examples."""
    assert len(HOSTILE) >= 40


ALLOWED = [
    (
        "typical condition",
        'action == "feedback" and channel in ("app", "website") and meta.stars >= 4',
    ),
    ("list literal for in", 'channel not in ["sms", "push"]'),
    ("subscript", 'meta["stars"] > 3'),
    ("negative index", "tags[-1] == 'vip'"),
    ("conditional", "50 if meta.stars == 5 else 10"),
    ("arithmetic", "(x + 1) * 2 - x // 3 % 2 / 4"),
    ("helpers", "round(abs(x) / 3, ndigits=1) + len(tags) + max(1, 2)"),
    ("history filters", 'count(period="month", action="feedback") == 1'),
    ("identity", "n is None or n is not None"),
    ("multi-line in parentheses", '(action == "feedback"\n and meta.stars >= 4)'),
    ("exactly the depth cap", "-(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1)),
    ("exactly the item cap", "x in (" + "1, " * MAX_LITERAL_ITEMS + ")"),
    ("largest constants", f"x < {MAX_INT_CONSTANT} and s != '{'a' * MAX_STRING_CONSTANT}'"),
]


@pytest.mark.parametrize("source", [case[1] for case in ALLOWED], ids=[case[0] for case in ALLOWED])
def test_ordinary_rule_expressions_pass_the_gate(source: str) -> None:
    """What loyalty teams write compiles."""
    assert compile_(source).source == source


def test_compiled_expressions_say_which_names_and_functions_they_use() -> None:
    """names_used and functions_used list data names and called functions separately."""
    expression = compile_("len(tags) > 1 and meta.stars >= x")
    assert expression.names_used == {"tags", "meta", "x"}
    assert expression.functions_used == {"len"}


# --- evaluation -----------------------------------------------------------------------------

META = {"stars": 5, "tags": ["a", "b"]}
EVENT = {"id": "evt_1", "items": 3, "data": {"meta": META}}

RUNTIME_VALUES: list[tuple[str, str, Any]] = [
    ("typical condition", 'action == "feedback" and channel in ("app", "website")', True),
    ("attribute read", "meta.stars", 5),
    ("subscript read", 'meta["stars"]', 5),
    ("missing key is None", "meta.missing", None),
    ("missing subscript is None", 'meta["missing"] is None', True),
    ("attribute of a missing mapping is None", "n.stars is None", True),
    ("subscript of a missing mapping is None", 'n["stars"] is None', True),
    ("lists arrive as tuples", "meta.tags", ("a", "b")),
    ("items is the field", "event.items", 3),
    ("nested read", "event.data.meta.stars", 5),
    ("mapping membership", "'stars' in meta", True),
    ("list membership", "'vip' in tags", True),
    ("substring", "'eed' in action", True),
    ("negative index", "tags[-1]", "new"),
    ("text index", "action[0]", "f"),
    ("list literal becomes a tuple", "[1, 2]", (1, 2)),
    ("text join", "action + '!'", "feedback!"),
    ("list join", "tags + ('x',)", ("vip", "new", "x")),
    ("arithmetic", "1 + 2 * 3 - 4 / 2", 5.0),
    ("floor division", "-7 // 2", -4),
    ("modulo", "7 % 3", 1),
    ("bools add like ints", "(x == 0) + True", 2),
    ("and returns the deciding value", "n and 1", None),
    ("conditional", "'yes' if x else 'no'", "no"),
    ("identity with None", "n is None", True),
    ("helper", "len(tags)", 2),
]


@pytest.mark.parametrize(
    ("source", "expected"),
    [case[1:] for case in RUNTIME_VALUES],
    ids=[case[0] for case in RUNTIME_VALUES],
)
def test_expressions_evaluate_against_frozen_data(source: str, expected: Any) -> None:
    """Reads, operators and helpers give Python's answers on frozen data."""
    result = evaluate(
        source,
        action="feedback",
        channel="app",
        meta=META,
        event=EVENT,
        tags=["vip", "new"],
        x=0,
        n=None,
    )
    assert result == expected
    assert type(result) is type(expected)


RUNTIME_ERRORS: list[tuple[str, str, str]] = [
    ("division by zero", "1 / x", "division by zero"),
    ("floor division by zero", "1 // x", "division by zero"),
    ("modulo by zero", "1 % x", "division by zero"),
    ("repeating text", "'a' * (x + 100000000)", "* is only for numbers, not 'str' and 'int'"),
    ("padding format", "'%0500000000d' % x", "% is only for numbers"),
    ("any format", "'%d' % x", "% is only for numbers"),
    ("text plus number", "s + 1", "unsupported operand types for +: 'str' and 'int'"),
    ("list plus text", "tags + s", "unsupported operand types for +: 'list' and 'str'"),
    ("attribute of text", "s.upper", "cannot read attribute 'upper' of str"),
    ("attribute of a list", "tags.count", "cannot read attribute 'count' of list"),
    ("text key on a list", "tags['a']", "list positions are integers"),
    ("index out of range", "tags[5]", "position 5 is outside a list of 2"),
    ("comparing None", "n >= 4", "cannot compare 'None' and 'int' with >="),
    ("comparing text and number", "s < 1", "cannot compare 'str' and 'int' with <"),
    ("in on None", "'vip' in n", "'in' needs text, a list or a mapping, not 'None'"),
    ("number in text", "1 in s", "'in' on text needs text on the left"),
    ("negating text", "-s", "unary - is only for numbers"),
    ("int overflow", "(x + 1000000000000000) * 1000000000000000 * 10", "number too large"),
    ("float overflow", "(x + 1e300) * 1e300", "number too large"),
    ("long text", "s + s", "result of + is too long (the limit is 10000)"),
    ("helper type", "upper(x)", "upper() needs text, not int"),
]


@pytest.mark.parametrize(
    ("source", "message"),
    [case[1:] for case in RUNTIME_ERRORS],
    ids=[case[0] for case in RUNTIME_ERRORS],
)
def test_runtime_failures_are_evaluation_errors(source: str, message: str) -> None:
    """A failure on one event is an EvaluationError with a clear message, nothing else."""
    with pytest.raises(EvaluationError) as caught:
        evaluate(source, s="x" * 6000, tags=["vip", "new"], x=0, n=None)
    assert message in str(caught.value)


NEVER_EVALUATE: list[tuple[str, str, int, str]] = [
    # (source, what fails, column of the part that can never be evaluated, message)
    ("'%0500000000d' % 1 == 'x'", "padding format", 1, "% is only for numbers"),
    ("'x' * 1000000000 == 'x'", "repeating text", 1, "* is only for numbers, not 'str' and 'int'"),
    ("action == 'a' and 1 / 0", "division by zero", 19, "division by zero"),
    ("x > 1e300 * 1e300", "float overflow", 5, "number too large"),
    ("x < 1000000000000000 * 1000000000000000 * 10", "a number too large", 5, "number too large"),
    ("s == upper(1)", "a helper's type", 6, "upper() needs text, not int"),
    ('s == "Café crème ☕" + 1', "after non-ASCII text", 6, "unsupported operand types for +"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "col", "message"),
    [(source, col, message) for source, _, col, message in NEVER_EVALUATE],
    ids=[case[1] for case in NEVER_EVALUATE],
)
def test_parts_that_can_never_be_evaluated_are_refused_when_compiled(
    source: str, col: int, message: str
) -> None:
    """Constant parts are evaluated once at load; one that fails fails the load, located."""
    with pytest.raises(ExpressionError) as caught:
        compile_(source)
    assert caught.value.message.startswith("this part can never be evaluated: " + message)
    assert (caught.value.line, caught.value.col) == (1, col)


def test_constant_parts_are_folded_into_their_values() -> None:
    """Folding keeps the result: constant arithmetic, lists and pure helpers."""
    assert evaluate("x + 2 * 3", x=1) == 7
    assert evaluate('s in ["a", "b"] and upper("a") == "A"', s="a") is True
    assert evaluate("x == -1", x=-1) is True
    assert isinstance(compile_("x + 2 * 3").tree.right, ast.BinOp)  # the tree stays as written


def test_work_on_big_data_is_capped_per_evaluation() -> None:
    """Scanning a huge text once is fine; doing it again and again hits MAX_WORK."""
    text = "ß" * (MAX_WORK // 3)
    assert evaluate("upper(s) != s", s=text) is True
    with pytest.raises(EvaluationError, match=f"too much data \\(the limit is {MAX_WORK:,}\\)"):
        evaluate(" or ".join(["upper(s) == s"] * 4), s=text)


@pytest.mark.parametrize(
    "source",
    ["t == u and t == u and t == u", "0 in t or 0 in t or 0 in t", "min(t) and min(t) and min(t)"],
    ids=["comparing lists", "searching a list", "helper over a list"],
)
def test_work_on_big_lists_is_capped_per_evaluation(source: str) -> None:
    """Operations over lists are charged by their size, nested items included."""
    big = [[1, 2]] * (MAX_WORK // 6)
    with pytest.raises(EvaluationError, match="too much data"):
        evaluate(source, t=big, u=list(big))


def test_modulo_by_zero_message_is_plain() -> None:
    """``1 % 0`` reads as division by zero too, not Python's "integer modulo by zero"."""
    with pytest.raises(EvaluationError, match=r"^division by zero$"):
        evaluate("1 % x", x=0)


def test_a_name_missing_at_runtime_is_an_evaluation_error() -> None:
    """A name the gate allowed but the event lacks fails cleanly."""
    with pytest.raises(EvaluationError, match="name 'meta' is not available"):
        compile_("meta.stars").evaluate({}, HELPER_IMPLS)


def test_a_function_missing_at_runtime_is_an_evaluation_error() -> None:
    """simpleeval's default functions (rand, randint, ...) are never there to fall back on."""
    expression = compile_expression(
        "rand()", names=(), functions={"rand": FunctionSpec("rand", 0, 0)}
    )
    with pytest.raises(EvaluationError, match="function 'rand' is not available"):
        expression.evaluate({}, HELPER_IMPLS)


def test_any_exception_from_a_function_becomes_an_evaluation_error() -> None:
    """A bug in a function is a rule error, never an unexpected exception type."""

    def broken() -> int:
        raise RuntimeError("boom")

    expression = compile_expression("f()", names=(), functions={"f": FunctionSpec("f", 0, 0)})
    with pytest.raises(EvaluationError, match="RuntimeError: boom"):
        expression.evaluate({}, {"f": broken})


def test_a_transient_error_from_a_function_passes_through_for_a_retry() -> None:
    """A database hiccup inside a history function is retried, not recorded as a rule error."""

    def unavailable() -> int:
        raise TransientError("database is down")

    expression = compile_expression("f()", names=(), functions={"f": FunctionSpec("f", 0, 0)})
    with pytest.raises(TransientError):
        expression.evaluate({}, {"f": unavailable})


@pytest.mark.parametrize(
    ("value", "kind"),
    [({"a": 1}, "dict"), ([1], "list"), (print, "builtin_function_or_method")],
    ids=["dict", "list", "callable"],
)
def test_unfrozen_names_and_function_results_are_refused(value: Any, kind: str) -> None:
    """Only frozen data reaches an expression, whether from a name or a function."""
    with pytest.raises(EvaluationError, match=f"name 'x' is a {kind}, not frozen data"):
        compile_("x").evaluate({"x": value}, HELPER_IMPLS)
    expression = compile_expression("f()", names=(), functions={"f": FunctionSpec("f", 0, 0)})
    with pytest.raises(EvaluationError, match=f"the result of f\\(\\) is a {kind}"):
        expression.evaluate({}, {"f": lambda: value})


def test_evaluate_does_not_change_the_functions_mapping_it_is_given() -> None:
    """simpleeval may add to the functions it holds; ours get a copy."""
    functions = dict(HELPER_IMPLS)
    compile_("len(tags)").evaluate({"tags": ("a",)}, functions)
    assert functions == HELPER_IMPLS


def test_threads_never_see_each_others_names() -> None:
    """8 threads evaluating one expression with their own names always read their own."""
    expression = compile_("x + x - x")
    barrier = threading.Barrier(8)
    wrong: list[tuple[int, Any]] = []

    def run(mine: int) -> None:
        barrier.wait()
        for _ in range(2000):
            result = expression.evaluate({"x": mine}, HELPER_IMPLS)
            if result != mine:
                wrong.append((mine, result))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(8)]
    # Switching threads every microsecond makes a shared evaluator fail here every time
    # (about 1% of evaluations); with the default 5 ms it would rarely be caught.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []


def test_an_expression_evaluated_inside_a_function_keeps_the_outer_names() -> None:
    """Re-entrant evaluation on one thread uses a second evaluator, not the busy one."""
    inner = compile_("x * 10")

    def nested() -> Any:
        return inner.evaluate({"x": 7}, HELPER_IMPLS)

    outer = compile_expression("f() + x", names=("x",), functions={"f": FunctionSpec("f", 0, 0)})
    assert outer.evaluate({"x": 1}, {"f": nested}) == 71


# --- frozen data ----------------------------------------------------------------------------


def test_records_have_no_public_methods_or_attributes() -> None:
    """Every public attribute name of a Record is a field (or None), never a method."""
    record = freeze({"items": 1, "keys": 2})
    assert [name for name in dir(record) if not name.startswith("_")] == []
    assert (record.items, record.keys, record.get, record.values) == (1, 2, None, None)


def test_records_cannot_be_mutated_and_the_original_is_unchanged() -> None:
    """Neither attribute nor item assignment works, and freeze copies rather than wraps."""
    meta: dict[str, int] = {"stars": 5}
    tags: list[str] = ["a"]
    original = {"meta": meta, "tags": tags}
    record = freeze(original)
    with pytest.raises(AttributeError):
        record.meta = 1
    with pytest.raises(AttributeError):
        record._data = {}
    with pytest.raises(AttributeError):
        del record.meta
    with pytest.raises(TypeError):
        record["meta"] = 1
    meta["stars"] = 1
    tags.append("b")
    assert record.meta.stars == 5 and record.tags == ("a",)
    assert original == {"meta": {"stars": 1}, "tags": ["a", "b"]}


def test_records_compare_hash_copy_and_pickle_by_value() -> None:
    """Equal data gives equal Records usable as set members; copies and pickles round-trip."""
    record = freeze({"a": [1, {"b": None}]})
    assert record == freeze({"a": (1, {"b": None})})
    assert len({record, freeze({"a": [1, {"b": None}]})}) == 1
    assert copy.deepcopy(record) == record
    assert pickle.loads(pickle.dumps(record)) == record
    assert (len(record), list(record), "a" in record, 1 in record) == (1, ["a"], True, False)


def test_thaw_gives_back_plain_data() -> None:
    """thaw(freeze(x)) == x for JSON-like data."""
    data = {"a": [1, 2.5, {"b": None, "c": True}], "d": "e"}
    assert thaw(freeze(data)) == data


@pytest.mark.parametrize(
    "value",
    [datetime.datetime(2026, 1, 1), print, object(), {1, 2}, b"x", {1: "a"}],
    ids=["datetime", "callable", "object", "set", "bytes", "int key"],
)
def test_freeze_refuses_anything_but_json_like_data(value: Any) -> None:
    """Datetimes, callables, objects, sets, bytes and non-str keys are a TypeError."""
    with pytest.raises(TypeError):
        freeze({"x": value})


# --- helpers --------------------------------------------------------------------------------

HELPER_CASES: list[tuple[str, str, tuple[Any, ...], Any]] = [
    ("abs of a negative", "abs", (-3,), 3),
    ("round to an int", "round", (2.5,), 2),
    ("round to digits", "round", (2.567, 2), 2.57),
    ("min of a list", "min", (("b", "a"),), "a"),
    ("max of several", "max", (1, 3, 2), 3),
    ("len of text", "len", ("abc",), 3),
    ("len of a mapping", "len", (Record({"a": 1}),), 1),
    ("int of text", "int", (" 12 ",), 12),
    ("int of a float", "int", (2.9,), 2),
    ("float of text", "float", ("2.5",), 2.5),
    ("str of a number", "str", (5,), "5"),
    ("str of None", "str", (None,), "None"),
    ("lower", "lower", ("AbC",), "abc"),
    ("upper", "upper", ("AbC",), "ABC"),
]


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [case[1:] for case in HELPER_CASES],
    ids=[case[0] for case in HELPER_CASES],
)
def test_helpers_behave_like_their_python_namesakes(
    name: str, args: tuple[Any, ...], expected: Any
) -> None:
    """On ordinary inputs the helpers return what Python's builtins and str methods would."""
    result = HELPER_IMPLS[name](*args)
    assert result == expected
    assert type(result) is type(expected)


HELPER_REFUSALS: list[tuple[str, str, tuple[Any, ...], str]] = [
    ("abs of text", "abs", ("a",), "abs() needs a number, not str"),
    ("round with huge ndigits", "round", (1.0, 99), "ndigits must be an integer"),
    ("round to a huge int", "round", (1e300,), "number too large"),
    ("min of one number", "min", (1,), "needs a list or at least two values"),
    ("min of an empty list", "min", ((),), "min() of an empty list"),
    ("max of mixed types", "max", (1, "a"), "max() cannot compare int and str"),
    ("len of a number", "len", (1,), "len() needs text, a list or a mapping"),
    ("int of long text", "int", ("1" * 60,), "int() text is too long"),
    ("int of bad text", "int", ("x",), "int() cannot convert 'x'"),
    ("int of a huge float", "int", (1e300,), "number too large"),
    ("float of nan", "float", ("nan",), "numbers must be finite"),
    ("float of inf", "float", ("1e999",), "numbers must be finite"),
    ("str of a mapping", "str", (Record({}),), "str() needs text, a number"),
    ("str of long text", "str", ("x" * 10_001,), "str() result is too long"),
    ("str of a huge int", "str", (10**4000,), "number too large"),
    ("lower of a number", "lower", (1,), "lower() needs text, not int"),
]


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [case[1:] for case in HELPER_REFUSALS],
    ids=[case[0] for case in HELPER_REFUSALS],
)
def test_helpers_refuse_unbounded_or_wrongly_typed_input(
    name: str, args: tuple[Any, ...], message: str
) -> None:
    """Each helper accepts only the types it names and never builds an unbounded result."""
    with pytest.raises(EvaluationError) as caught:
        HELPER_IMPLS[name](*args)
    assert message in str(caught.value)


def test_every_helper_has_a_spec_and_an_implementation() -> None:
    """The gate's HELPERS and the evaluator's HELPER_IMPLS name the same ten helpers."""
    assert (
        set(HELPERS)
        == set(HELPER_IMPLS)
        == {"abs", "round", "min", "max", "len", "int", "float", "str", "lower", "upper"}
    )
    assert all(spec.name == name for name, spec in HELPERS.items())
