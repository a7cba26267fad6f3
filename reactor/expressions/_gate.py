"""The allow-list AST gate every rule expression passes at load time (spec I6).

Only the constructs ``_Gate.check`` lists get through; anything else is refused with a message
naming it and its 1-based line and column in the expression's text. Nothing here evaluates.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from reactor.errors import ExpressionError, did_you_mean

MAX_SOURCE_LENGTH = 1000
"""The longest expression text, in characters."""
MAX_DEPTH = 20
"""The deepest nesting of expression nodes."""
MAX_NODES = 200
"""The most expression nodes (names, constants, operations, calls...) in one expression."""
MAX_STRING_CONSTANT = 200
"""The longest string literal, in characters."""
MAX_INT_CONSTANT = 10**15
"""The largest magnitude of an integer literal."""
MAX_LITERAL_ITEMS = 20
"""The most elements in a tuple or list literal."""


@dataclass(frozen=True)
class FunctionSpec:
    """What a function accepts, so calls are checked when the rule loads, not when it runs.

    ``keywords`` None means no keyword arguments; ``any_keywords`` allows arbitrary filters.
    """

    name: str
    min_args: int
    max_args: int
    keywords: frozenset[str] | None = None
    any_keywords: bool = False


# Refused constructs that have a well-known name: the message says what the author wrote.
_REFUSED: dict[type[ast.AST], str] = {
    ast.ListComp: "list comprehensions are not allowed",
    ast.SetComp: "set comprehensions are not allowed",
    ast.DictComp: "dict comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Starred: "starred expressions (*x) are not allowed",
    ast.Set: "set literals are not allowed; use a tuple like (1, 2)",
    ast.Dict: "dict literals are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Slice: "slices are not allowed",
}
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)
_REFUSED_OPERATORS: dict[type[ast.AST], str] = {
    ast.Pow: "power operator ** is not allowed",
    ast.MatMult: "matrix operator @ is not allowed",
    ast.BitAnd: "bitwise operator & is not allowed",
    ast.BitOr: "bitwise operator | is not allowed",
    ast.BitXor: "bitwise operator ^ is not allowed",
    ast.Invert: "bitwise operator ~ is not allowed",
    ast.LShift: "shift operator << is not allowed",
    ast.RShift: "shift operator >> is not allowed",
}


def parse_checked(
    source: str, names: Collection[str], functions: Mapping[str, FunctionSpec]
) -> ast.expr:
    """Parse ``source`` as one expression and return its tree if the gate allows every node.

    Raises ExpressionError with the first problem and its position in ``source``.
    """
    if len(source) > MAX_SOURCE_LENGTH:
        message = f"expression is too long ({len(source)} characters; the limit is "
        line = source.count("\n", 0, MAX_SOURCE_LENGTH) + 1  # point at the first character over
        col = MAX_SOURCE_LENGTH - source.rfind("\n", 0, MAX_SOURCE_LENGTH)
        raise ExpressionError(message + f"{MAX_SOURCE_LENGTH})", line, col)
    where = Positions(source)
    if not where.body:
        raise ExpressionError("expression is empty", 1, 1)
    tree = _parse(where)
    _Gate(where, names, functions).run(tree.body)
    return tree.body


class Positions:
    """Where the nodes of a parsed expression are, as 1-based (line, col) in its source text.

    Python refuses leading indentation and YAML often leaves some, so the text is parsed
    without it (``body``); positions are shifted back. ast offsets count UTF-8 bytes where
    people count characters, so they are converted too. Every load-time check reports through
    this, so a column is right after "Café ☕" as well as before it.
    """

    def __init__(self, source: str) -> None:
        self.body = source.lstrip()
        prefix = source[: len(source) - len(self.body)]
        self.shift_lines = prefix.count("\n")
        self.shift_cols = len(prefix) - (prefix.rfind("\n") + 1)
        self.lines = self.body.split("\n")  # as ast counts lines (splitlines also splits on \f)

    def of(self, node: ast.AST, *, at_end: int = 0) -> tuple[int, int]:
        """``node``'s position; ``at_end`` > 0 points that many characters before its end."""
        if at_end:
            line, offset = getattr(node, "end_lineno", 1), getattr(node, "end_col_offset", 0)
        else:
            line, offset = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        col = len(text.encode()[:offset].decode(errors="replace")) - at_end + 1
        return self.shifted(line, col)

    def shifted(self, line: int, col: int) -> tuple[int, int]:
        """A (line, col) in ``body`` as a position in the source."""
        return line + self.shift_lines, (col + self.shift_cols if line == 1 else col)

    def error(self, message: str, node: ast.AST, *, at_end: int = 0) -> ExpressionError:
        """An ExpressionError at ``node`` (see ``of``)."""
        return ExpressionError(message, *self.of(node, at_end=at_end))


def _parse(where: Positions) -> ast.Expression:
    """ast.parse in eval mode; statements, ``;`` and extra lines become ExpressionError."""
    body = where.body
    try:
        # Make "invalid escape sequence" and similar warnings errors: one behaviour everywhere.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return ast.parse(body, mode="eval")
    except SyntaxError as exc:
        line, lines = exc.lineno or 1, body.split("\n")
        # At the end of the text Python gives offset 0: point just past the last character.
        col = exc.offset or len(lines[min(line, len(lines)) - 1]) + 1
        message = f"not a valid expression: {exc.msg}" + _syntax_hint(body)
        raise ExpressionError(message, *where.shifted(line, col)) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, parser limits
        raise ExpressionError(f"not a valid expression: {exc}", 1, 1) from None


_STATEMENT = re.compile(
    r"(import|from|def|class|for|while|with|try|return|raise|del|pass|global|assert|async)\b"
)


def _syntax_hint(body: str) -> str:
    """A guess at what the author meant, for the usual ways of writing more than one expression."""
    if _STATEMENT.match(body):
        return " (statements are not allowed; write one expression)"
    if ";" in body:
        return " (';' is not allowed; write one expression)"
    if "\n" in body.strip():
        return " (write one expression; wrap it in ( ) to continue it on another line)"
    if re.search(r"(?<![=!<>])=(?!=)", body):
        return " (assignments are not allowed; compare with ==)"
    return ""


class _Gate:
    """Walks a parsed expression once, checking caps first, then every node against the list."""

    def __init__(
        self, where: Positions, names: Collection[str], functions: Mapping[str, FunctionSpec]
    ) -> None:
        self.where = where
        self.names, self.functions = names, functions

    def refuse(self, message: str, node: ast.AST, *, at_end: int = 0) -> ExpressionError:
        return self.where.error(message, node, at_end=at_end)

    def run(self, root: ast.expr) -> None:
        # Caps first, without recursion, so a huge tree cannot exhaust the stack below.
        count = 0
        stack: list[tuple[ast.AST, int]] = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            count += 1
            if count > MAX_NODES:  # a property of the whole expression: point at its start
                raise self.refuse(f"expression is too complex (over {MAX_NODES} parts)", root)
            if depth > MAX_DEPTH:
                raise self.refuse(f"expression is nested too deeply (over {MAX_DEPTH})", node)
            stack.extend((child, depth + 1) for child in _children(node))
        self.check(root)

    def check(self, node: ast.AST) -> None:
        """Refuse ``node`` unless it is allowed, then check its children."""
        kind = type(node)
        if kind in _REFUSED:
            raise self.refuse(_REFUSED[kind], node)
        if isinstance(node, ast.BinOp | ast.UnaryOp) and type(node.op) in _REFUSED_OPERATORS:
            raise self.refuse(_REFUSED_OPERATORS[type(node.op)], node)
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, _ARITHMETIC):  # none left today; guards future Pythons
                raise self.refuse(f"{type(node.op).__name__} is not allowed", node)
        elif isinstance(node, ast.Constant):
            self.check_constant(node)
        elif isinstance(node, ast.Name):
            self.check_name(node)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                message = f"attributes starting with '_' are not allowed ('{node.attr}')"
                raise self.refuse(message, node, at_end=len(node.attr))
        elif isinstance(node, ast.Subscript):
            self.check_subscript(node)
        elif isinstance(node, ast.Tuple | ast.List):
            if len(node.elts) > MAX_LITERAL_ITEMS:
                message = f"too many items in a literal ({len(node.elts)}; the limit is "
                raise self.refuse(message + f"{MAX_LITERAL_ITEMS})", node)
        elif isinstance(node, ast.Call):
            self.check_call(node)
            for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
                self.check(argument)
            return  # the function's name was checked as a function, not as a data name
        elif not isinstance(node, ast.BoolOp | ast.UnaryOp | ast.Compare | ast.IfExp):
            raise self.refuse(f"{kind.__name__} is not allowed", node)
        for child in _children(node):
            self.check(child)

    def check_constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, str) and len(value) > MAX_STRING_CONSTANT:
            message = f"string is too long ({len(value)} characters; the limit is "
            raise self.refuse(message + f"{MAX_STRING_CONSTANT})", node)
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return
        if isinstance(value, int):
            if abs(value) > MAX_INT_CONSTANT:
                raise self.refuse(f"number is too large (the limit is {MAX_INT_CONSTANT:,})", node)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise self.refuse("number is too large (numbers must be finite)", node)
        elif value is Ellipsis:
            raise self.refuse("'...' is not allowed", node)
        else:
            raise self.refuse(f"{type(value).__name__} literals are not allowed", node)

    def check_name(self, node: ast.Name) -> None:
        if node.id in self.names:
            return
        if node.id in self.functions:
            raise self.refuse(f"'{node.id}' is a function; call it like {node.id}(...)", node)
        raise self.refuse(f"unknown name '{node.id}'" + did_you_mean(node.id, self.names), node)

    def check_subscript(self, node: ast.Subscript) -> None:
        index: ast.AST = node.slice
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            index = index.operand  # x[-1]
        if isinstance(index, ast.Slice):
            raise self.refuse("slices are not allowed", index)
        if not (
            isinstance(index, ast.Constant)
            and isinstance(index.value, str | int)
            and not isinstance(index.value, bool)
        ):
            message = 'only a constant string or integer can go in [ ], like meta["stars"]'
            raise self.refuse(message, node.slice)

    def check_call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            raise self.refuse("method calls are not allowed", func, at_end=len(func.attr))
        if not isinstance(func, ast.Name):
            raise self.refuse("only functions can be called, by name", func)
        spec = self.functions.get(func.id)
        if spec is None:
            if func.id in self.names:
                raise self.refuse(f"'{func.id}' is not a function", func)
            raise self.refuse(
                f"unknown function '{func.id}'" + did_you_mean(func.id, self.functions), func
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.refuse("starred arguments (*x) are not allowed", arg)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.refuse("**kwargs are not allowed", keyword)
        given = len(node.args)
        if not spec.min_args <= given <= spec.max_args:
            wanted = (
                str(spec.min_args)
                if spec.min_args == spec.max_args
                else f"{spec.min_args} to {spec.max_args}"
            )
            plural = "" if wanted == "1" else "s"
            message = f"{spec.name}() takes {wanted} argument{plural} ({given} given)"
            raise self.refuse(message, node)
        seen: set[str] = set()
        for keyword in node.keywords:
            assert keyword.arg is not None  # refused above
            if keyword.arg in seen:
                raise self.refuse(f"keyword argument '{keyword.arg}' is repeated", keyword)
            seen.add(keyword.arg)
            if spec.any_keywords:
                continue
            if spec.keywords is None:
                raise self.refuse(f"{spec.name}() takes no keyword arguments", keyword)
            if keyword.arg not in spec.keywords:
                message = f"{spec.name}() got an unexpected keyword argument '{keyword.arg}'"
                raise self.refuse(message + did_you_mean(keyword.arg, spec.keywords), keyword)


_TOKENS = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _children(node: ast.AST) -> Iterator[ast.AST]:
    """Child nodes that are parts of the expression (not contexts or operator tokens)."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, _TOKENS):
            yield child
