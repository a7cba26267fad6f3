"""Does every legal expression evaluate in under 1 ms? One at each gate cap, and the worst
runtime cases within MAX_WORK.

Builds one legal expression at each cap of ``reactor.expression_gate`` (source length, depth,
node count, string constant length, int constant size, literal items), each written so that
evaluating it does as much as its cap allows (no short cut), and evaluates it against the names
of an ordinary review event. Then it evaluates expressions that make the evaluator go through
as much data as ``MAX_WORK`` and the 256 KiB body limit allow, each on a body at that limit
that the receiver would accept (size, strict JSON, nesting and schema are checked here). Each
is compiled once with ``compile_expression(source, names=expressions.NAMES,
functions=expressions.FUNCTIONS)`` and evaluated ``--repeat`` times (default 1,000) against names
built once by ``expressions.event_names``, ``time_names`` and ``member_names``, as the engine does
for one event and time zone. Prints best and median µs per evaluation.

Also a check: exits 1 if any median exceeds ``--limit-ms`` (default 1 ms).

    .venv/bin/python -m benchmarks.expressions [--repeat 1000] [--limit-ms 1]

Needs no database.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from reactor import expressions
from reactor.config import Settings
from reactor.envelope import validate_envelope
from reactor.expressions import (
    MAX_DEPTH,
    MAX_INT_CONSTANT,
    MAX_LITERAL_ITEMS,
    MAX_NODES,
    MAX_SOURCE_LENGTH,
    MAX_STRING_CONSTANT,
    MAX_WORK,
    Expression,
    compile_expression,
    freeze,
    weight,
)
from reactor.facts import EventFacts, MemberFacts
from reactor.strictjson import canonical_json, parse_json

MAX_BODY_BYTES = Settings.model_fields["max_body_bytes"].default
REVIEW: dict[str, Any] = {
    "id": "int_889",
    "profile_id": "m1",
    "action": "feedback",
    "channel": "website",
    "signal": 1,
    "name": "Reviewed a product",
    "namespace": "reviews",
    "interacted_at": "2026-11-22T09:59:12+11:00",
    "interacted_type": "rating",
    "interacted_id": "r_77",
    "product_id": "sku-123",
    "duration": 95,
    "tags": ["review", "photo"],
    "meta": {"stars": 5, "verified": True},
    "description": "Fits perfectly, warm enough for early morning swims in winter. " * 5,
}


@dataclass(frozen=True)
class Case:
    """One expression to time, the event data it runs on, and what it pushes to the limit."""

    name: str
    source: str
    data: dict[str, Any]
    at: str  # e.g. "1000/1000 characters"


# --- the shape of an expression, measured as the gate measures it ------------------------------

_TOKENS = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _parts(node: ast.AST) -> Iterator[ast.AST]:
    return (c for c in ast.iter_child_nodes(node) if not isinstance(c, _TOKENS))


def depth_and_nodes(source: str) -> tuple[int, int]:
    """Deepest nesting and number of expression nodes, counted like ``expression_gate``."""
    deepest, count = 0, 0
    stack: list[tuple[ast.AST, int]] = [(ast.parse(source, mode="eval").body, 1)]
    while stack:
        node, depth = stack.pop()
        deepest, count = max(deepest, depth), count + 1
        stack.extend((child, depth + 1) for child in _parts(node))
    return deepest, count


def constants(source: str) -> list[Any]:
    tree = ast.parse(source, mode="eval")
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)]


def most_items(source: str) -> int:
    tree = ast.parse(source, mode="eval")
    return max(len(n.elts) for n in ast.walk(tree) if isinstance(n, ast.Tuple | ast.List))


# --- one expression at each cap -----------------------------------------------------------------


def at_source_length() -> Case:
    """Nine false comparisons with long texts, so ``or`` evaluates them all; exactly 1000 chars."""
    fields = ("name", "namespace", "interacted_type", "interacted_id", "product_id", "channel")
    clauses = [f'{field} == "{field[0] * 120}"' for field in fields]
    clauses += ['"never said" in description', 'lower(action) == "visit"']
    head = " or ".join(clauses) + ' or description == "'
    filler = MAX_SOURCE_LENGTH - len(head) - 1
    assert 0 < filler <= MAX_STRING_CONSTANT, filler
    source = head + "z" * filler + '"'
    return Case("source length", source, REVIEW, f"{len(source)}/{MAX_SOURCE_LENGTH} characters")


def at_depth() -> Case:
    """Tiered points as nested ``if``/``else``, every tier's test false: depth exactly 20."""
    tiers = MAX_DEPTH - 2  # the innermost test's operands sit two levels below its tier
    source = "0"
    for tier in range(1, tiers + 1):
        source = f"{tier * 10} if duration >= {tier * 100} else ({source})"
    depth, _ = depth_and_nodes(source)
    return Case("depth", source, REVIEW, f"{depth}/{MAX_DEPTH} levels")


def at_nodes() -> Case:
    """``x in (...)`` tests that all fail, so every item is compared; exactly 200 nodes."""
    names = ("signal", "duration", "hour", "weekday", "day", "month", "year", "member.points")
    clauses, nodes = [], 1  # the ``or``
    for name in (*names, "meta.stars"):
        # A test is the compare, its left side (two nodes for member.points) and the tuple.
        fixed = 3 + name.count(".")
        room = min(MAX_LITERAL_ITEMS, MAX_NODES - nodes - fixed)
        items = ", ".join(str(30 + i) for i in range(room))  # none matches the event
        clauses.append(f"{name} in ({items})")
        nodes += fixed + room
    source = " or ".join(clauses)
    _, count = depth_and_nodes(source)
    assert count == MAX_NODES and len(source) <= MAX_SOURCE_LENGTH, (count, len(source))
    return Case("nodes", source, REVIEW, f"{count}/{MAX_NODES} nodes")


def at_string_constant() -> Case:
    """Three 200-character texts: searched for in the description, compared after casing."""
    texts = ["Fits perfectly, warm enough " * 8, "reviewed a product " * 11, "REVIEWS " * 25]
    texts = [(text * 2)[:MAX_STRING_CONSTANT] for text in texts]
    source = (
        f'"{texts[0]}" in description or lower(name) == "{texts[1]}" '
        f'or upper(namespace) == "{texts[2]}"'
    )
    longest = max(len(c) for c in constants(source) if isinstance(c, str))
    return Case("string constant", source, REVIEW, f"{longest}/{MAX_STRING_CONSTANT} characters")


def at_int_constant() -> Case:
    """Arithmetic on the largest integer literals, up to results near MAX_RESULT_INT (10**30)."""
    big = MAX_INT_CONSTANT
    source = (
        f"({big} * {big} - member.points * {big}) // ({big} - duration) "
        f"+ {big} % (duration + 7) > -{big}"
    )
    largest = max(abs(c) for c in constants(source) if type(c) is int)
    return Case("int constant", source, REVIEW, f"{largest:.0e}/{MAX_INT_CONSTANT:.0e}")


def at_literal_items() -> Case:
    """A 20-item tuple searched and a 20-argument max(), none matching."""
    skus = ", ".join(f'"sku-{900 + i}"' for i in range(MAX_LITERAL_ITEMS))
    numbers = ", ".join(str(i) for i in range(MAX_LITERAL_ITEMS - 1))
    source = f"product_id in ({skus}) or max(duration, {numbers}) > 1000"
    return Case("literal items", source, REVIEW, f"{most_items(source)}/{MAX_LITERAL_ITEMS} items")


# --- the most work MAX_WORK lets through, on big bodies -----------------------------------------


def body_bytes(data: dict[str, Any]) -> int:
    body = canonical_json({"id": "evt_big", "type": "interaction.created", "data": data})
    return len(body.encode())


def padded(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with an unread ``meta.padding`` text that brings the body to the size limit."""
    room = MAX_BODY_BYTES - body_bytes(data) - len(',"padding":""')
    if room <= 0:
        return data
    data = {**data, "meta": {**data["meta"], "padding": "x" * room}}
    assert receivable(data), "padding broke the body"
    return data


def fill(make: Callable[[int], dict[str, Any]], fits: Callable[[dict[str, Any]], bool]) -> Any:
    """The data ``make(n)`` for the largest ``n`` with ``fits`` (binary search)."""
    low, high = 1, 1
    while fits(make(high * 2)):
        high *= 2
    low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(make(middle)) else (low, middle)
    return make(low)


def big_review(meta: dict[str, Any]) -> dict[str, Any]:
    return {**REVIEW, "meta": meta}


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def receivable(data: dict[str, Any]) -> bool:
    """Whether the receiver would accept a body with this data (size, strict JSON, schema)."""
    body = canonical_json({"id": "evt_big", "type": "interaction.created", "data": data})
    if len(body.encode()) > MAX_BODY_BYTES:
        return False
    try:
        validate_envelope(parse_json(body.encode()), None)
    except Exception:
        return False
    return True


def runtime_nested_lists() -> Case:
    """``len()`` of a list of deeply nested empty lists: weighing it walks every level."""
    depth = 40
    while not receivable(big_review({"rows": [nested(depth)]})):
        depth -= 1
    data = fill(lambda n: big_review({"rows": [nested(depth)] * n}), receivable)
    rows = data["meta"]["rows"]
    at = f"{len(rows):,} lists {depth} deep, work {weight(freeze(rows)):,}"
    return Case("nested lists", "len(meta.rows) > 0", padded(data), at)


def runtime_record_scan() -> Case:
    """``in`` over a list of mappings: one Python-level comparison per mapping."""

    def within_work(data: dict[str, Any]) -> bool:
        items = tuple(freeze(item) for item in data["meta"]["items"])
        return weight(items) <= MAX_WORK and receivable(data)

    data = fill(lambda n: big_review({"items": [{}] * n}), within_work)
    items = data["meta"]["items"]
    at = f"{len(items):,} mappings, work {weight(freeze(items)):,}"
    return Case("mapping scan", "member in meta.items", padded(data), at)


def runtime_casing() -> Case:
    """Two ``upper()`` calls on a text whose every character changes length when upper-cased."""
    text = "ß" * ((MAX_WORK // 2) - 100)
    data = fill(lambda n: big_review({"note": text[:n]}), receivable)
    source = "upper(meta.note) is None or upper(meta.note) is None"
    note = len(data["meta"]["note"])
    return Case("casing", source, padded(data), f"{note:,} chars x2, work {2 * note:,}")


# --- timing -------------------------------------------------------------------------------------


def names_for(data: dict[str, Any]) -> dict[str, Any]:
    """What the engine builds once per event and time zone, here for a rule in Melbourne time."""
    occurred = datetime(2026, 11, 21, 22, 59, 12, tzinfo=UTC)
    zone = ZoneInfo("Australia/Melbourne")
    event = EventFacts("evt_bench", "interaction.created", "m1", data, None, occurred, occurred)
    member = MemberFacts("m1", 120, {})
    return {
        **expressions.event_names(event),
        **expressions.time_names(occurred, zone),
        **expressions.member_names(member, {}, occurred),
    }


def time_case(case: Case, repeat: int) -> tuple[float, float, Any]:
    """Best and median µs of ``repeat`` evaluations, and the value it gave."""
    expression: Expression = compile_expression(
        case.source, names=expressions.NAMES, functions=expressions.FUNCTIONS
    )
    names, functions = names_for(case.data), expressions.IMPLEMENTATIONS
    result = expression.evaluate(names, functions)  # raises if the case is not legal at run time
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        expression.evaluate(names, functions)
        timings.append((time.perf_counter() - began) * 1e6)
    return min(timings), statistics.median(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1000, help="evaluations per expression")
    parser.add_argument("--limit-ms", type=float, default=1.0, help="fail above this median")
    args = parser.parse_args()
    caps = [
        at_source_length(),
        at_depth(),
        at_nodes(),
        at_string_constant(),
        at_int_constant(),
        at_literal_items(),
    ]
    runtime = [runtime_nested_lists(), runtime_record_scan(), runtime_casing()]
    over = []
    print(f"{'case':<22} {'at':<36} {'body':>9} {'best µs':>9} {'median µs':>10}  result")
    for case in [*caps, *runtime]:
        best, median, result = time_case(case, args.repeat)
        kib = body_bytes(case.data) / 1024
        flag = "  OVER" if median > args.limit_ms * 1000 else ""
        label = case.name if case in caps else f"work: {case.name}"
        print(
            f"{label:<22} {case.at:<36} {kib:7.1f} K {best:9.1f} {median:10.1f}  "
            f"{str(result)[:10]}{flag}"
        )
        if flag:
            over.append(case.name)
    if over:
        print(f"\nmedian over {args.limit_ms:g} ms: {', '.join(over)}")
        sys.exit(1)
    print(f"\nevery median is under {args.limit_ms:g} ms")


if __name__ == "__main__":
    main()
