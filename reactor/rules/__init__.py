"""Rule files and the rule set they make (spec §3): loading, checking, schemas and rule tests.

``load_rules`` reads every file with strict YAML (``_yaml``), validates its shape
(``_models``), compiles expressions and effects, checks history calls (``_history_checks``)
and returns a ``RuleSet`` (``_compiled``), or raises ``RuleError`` with every problem of every
file. ``rule_file_schema`` is the JSON Schema of the format (``_schema``); ``run_rule_tests``
runs ``*.test.yaml`` cases (``_cases``). Everything others use is imported from here.
"""

from reactor.rules._cases import (
    CaseResult,
    Replay,
    Report,
    find_test_files,
    render_rule_tests,
    run_rule_tests,
)
from reactor.rules._compiled import Achievement, Benefit, Level, Rule, RuleSet
from reactor.rules._loader import load_rules, rule_files
from reactor.rules._schema import DIALECT, rule_file_schema, rule_test_schema
from reactor.rules._yaml import KEY, MAX_YAML_CHARS, MAX_YAML_DEPTH, TEXT, load_yaml

__all__ = [
    "DIALECT",
    "KEY",
    "MAX_YAML_CHARS",
    "MAX_YAML_DEPTH",
    "TEXT",
    "Achievement",
    "Benefit",
    "CaseResult",
    "Level",
    "Replay",
    "Report",
    "Rule",
    "RuleSet",
    "find_test_files",
    "load_rules",
    "load_yaml",
    "render_rule_tests",
    "rule_file_schema",
    "rule_files",
    "rule_test_schema",
    "run_rule_tests",
]
