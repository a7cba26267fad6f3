"""The rule expression language (spec §4, I6): what rules may write, and how it runs.

Load time: ``compile_expression`` runs the allow-list gate (``_gate``), folds the constant
parts and finds the leading field tests (``_guard``). Run time: ``Expression.evaluate`` runs
simpleeval (``_evaluator``) with safe operators (``_operators``), pure helpers (``_helpers``)
and frozen data only (``_frozen``). ``_names`` says which names and functions exist and builds
their values for one event. Everything others use is imported from here.
"""

from reactor.expressions._evaluator import MAX_WORK
from reactor.expressions._expression import Expression, compile_expression
from reactor.expressions._frozen import Record, freeze, thaw, weight
from reactor.expressions._gate import (
    MAX_DEPTH,
    MAX_INT_CONSTANT,
    MAX_LITERAL_ITEMS,
    MAX_NODES,
    MAX_SOURCE_LENGTH,
    MAX_STRING_CONSTANT,
    FunctionSpec,
)
from reactor.expressions._helpers import (
    HELPER_IMPLS,
    HELPERS,
    MAX_LIST_LENGTH,
    MAX_NUMBER_TEXT,
    MAX_RESULT_INT,
    MAX_ROUND_DIGITS,
    MAX_TEXT_LENGTH,
    bounded,
    kind_of,
)
from reactor.expressions._names import (
    FIELD_FUNCTIONS,
    FUNCTIONS,
    HISTORY_CONTROLS,
    HISTORY_FUNCTIONS,
    IMPLEMENTATIONS,
    NAMES,
    RESERVED,
    TIME_NAMES,
    event_names,
    member_names,
    time_names,
)

__all__ = [
    "FIELD_FUNCTIONS",
    "FUNCTIONS",
    "HELPERS",
    "HELPER_IMPLS",
    "HISTORY_CONTROLS",
    "HISTORY_FUNCTIONS",
    "IMPLEMENTATIONS",
    "MAX_DEPTH",
    "MAX_INT_CONSTANT",
    "MAX_LIST_LENGTH",
    "MAX_LITERAL_ITEMS",
    "MAX_NODES",
    "MAX_NUMBER_TEXT",
    "MAX_RESULT_INT",
    "MAX_ROUND_DIGITS",
    "MAX_SOURCE_LENGTH",
    "MAX_STRING_CONSTANT",
    "MAX_TEXT_LENGTH",
    "MAX_WORK",
    "NAMES",
    "RESERVED",
    "TIME_NAMES",
    "Expression",
    "FunctionSpec",
    "Record",
    "bounded",
    "compile_expression",
    "event_names",
    "freeze",
    "kind_of",
    "member_names",
    "thaw",
    "time_names",
    "weight",
]
