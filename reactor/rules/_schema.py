"""JSON Schemas (draft 2020-12) of rule files and rule test files, for editors and tooling.

The rule-file schema is generated from the pydantic models the loader validates with, then
reshaped to describe the file as written: the catalogs' items are the models themselves (the
loader validates each entry on its own), the checks pydantic does in Python ("exactly one of
points, achievement or benefit", "a count, points or both") become ``oneOf``/``anyOf``, and
every property gets a one-sentence description for the analyst writing the file. What a schema
cannot say (expressions that compile, ids that exist, levels in order) is left to
``reactor rules check``.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from reactor.effects import KINDS
from reactor.expressions import MAX_SOURCE_LENGTH
from reactor.periods import DURATION_PATTERN
from reactor.rules._models import AchievementSpec, BenefitSpec, RuleSpec
from reactor.shapes import EVENT_TYPE_PATTERN, RULE_ID_PATTERN

DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema version both schemas are written in."""

# The models' Python names, and what the schema calls them.
_DEF_NAMES = {
    "RuleSpec": "Rule",
    "Effect": "Effect",
    "AchievementStep": "AchievementStep",
    "Cap": "Cap",
    "Active": "Active",
    "AchievementSpec": "Achievement",
    "Level": "Level",
    "LevelReward": "LevelReward",
    "BenefitSpec": "Benefit",
}
_REF = "#/$defs/"
# Whatever pydantic reads as a date and time, but with the offset the loader insists on.
_AWARE_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"
)
# What editors (yaml-language-server's `patternErrorMessage`) say instead of the raw pattern;
# validators ignore the keyword.
_PATTERN_MESSAGES = {
    RULE_ID_PATTERN: "use lowercase letters, digits, - and _, like first-review",
    EVENT_TYPE_PATTERN: "an event type looks like interaction.created or swim.completed",
    DURATION_PATTERN: "a duration is a whole number and s, m, h, d or w, like 30d",
    _AWARE_TIME: "give the time with its offset, like 2026-12-01T00:00:00Z",
}


def rule_file_schema() -> dict[str, Any]:
    """The JSON Schema of one rule file (``rules/*.yaml``)."""
    _, generated = models_json_schema(
        [(RuleSpec, "validation"), (AchievementSpec, "validation"), (BenefitSpec, "validation")],
        by_alias=True,  # `active: {from: ...}`, not `from_`
        ref_template=_REF + "{model}",
    )
    defs = {_DEF_NAMES[name]: _renamed_refs(body) for name, body in generated["$defs"].items()}
    defs["Expression"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_SOURCE_LENGTH,
    }
    _tighten(defs)
    for name, body in defs.items():
        _describe(name, body, DESCRIPTIONS)
    top = {
        section: {"type": "array", "items": {"$ref": _REF + item}}
        for section, item in (
            ("rules", "Rule"),
            ("achievements", "Achievement"),
            ("benefits", "Benefit"),
        )
    }
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "type": "object",
        "additionalProperties": False,
        "properties": top,
        "$defs": dict(sorted(defs.items())),
    }
    _describe("RuleFile", schema, DESCRIPTIONS)
    _explain_patterns(schema)
    return _head_first(schema)


def rule_test_schema() -> dict[str, Any]:
    """The JSON Schema of one rule test file (``rules/*.test.yaml``)."""
    ids = {"type": "string", "minLength": 1}
    count = {"type": "integer", "minimum": 0}
    defs: dict[str, Any] = {
        "Defaults": _object(
            type={"type": "string", "pattern": EVENT_TYPE_PATTERN},
            timezone={"type": "string", "minLength": 1},
            data={"type": "object"},
        ),
        "Case": _object(
            ["name", "events", "expect"],
            name={"type": "string", "minLength": 1},
            events={"type": "array", "minItems": 1, "items": {"$ref": _REF + "Event"}},
            expect={"$ref": _REF + "Expect"},
        ),
        "Event": _object(
            id=ids,
            member=ids,
            at={"type": "string", "minLength": 1},
            type={"type": "string", "pattern": EVENT_TYPE_PATTERN},
            interaction=ids,
            data={"type": "object"},
        ),
        "Expect": _object(
            members={"type": "object", "additionalProperties": {"$ref": _REF + "MemberState"}},
            decisions={"type": "array", "items": {"$ref": _REF + "DecisionExpectation"}},
        ),
        "MemberState": _object(
            points={"type": "integer"},
            achievements={"type": "object", "additionalProperties": count},
            levels={"type": "object", "additionalProperties": {"type": "string"}},
            benefits={"type": "array", "items": ids},
        ),
        "DecisionExpectation": _object(
            ["event", "rule"],
            event={"anyOf": [{"type": "integer", "minimum": 1}, ids]},
            rule=ids,
            outcome={"enum": ["fired", "skipped", "error"]},
            reason={
                "type": "string",
                "examples": [
                    "condition_false",
                    "limit_reached",
                    "budget_exhausted",
                    "inactive",
                    "deleted",
                ],
            },
        ),
    }
    for name, body in defs.items():
        _describe(name, body, TEST_DESCRIPTIONS)
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        **_object(
            ["cases"],
            defaults={"$ref": _REF + "Defaults"},
            cases={"type": "array", "minItems": 1, "items": {"$ref": _REF + "Case"}},
        ),
        "$defs": defs,
    }
    _describe("RuleTestFile", schema, TEST_DESCRIPTIONS)
    _explain_patterns(schema)
    return _head_first(schema)


def _head_first(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``$schema``, ``title`` and ``description`` on top, for human readers."""
    head = ("$schema", "title", "description")
    return {**{k: schema[k] for k in head}, **{k: v for k, v in schema.items() if k not in head}}


def _object(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: dict(v) for k, v in properties.items()},
    }
    if required:
        body["required"] = required
    return body


def _renamed_refs(node: Any) -> Any:
    """A copy of ``node`` whose ``$ref``s use the schema's names for the models."""
    if isinstance(node, dict):
        return {
            k: _REF + _DEF_NAMES[v.removeprefix(_REF)] if k == "$ref" else _renamed_refs(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_renamed_refs(item) for item in node]
    return node


def _present(key: str, title: str) -> dict[str, Any]:
    """A branch that holds when ``key`` is given and not null."""
    return {"title": title, "required": [key], "properties": {key: {"not": {"type": "null"}}}}


def _tighten(defs: dict[str, Any]) -> None:
    """Say in the schema what the models check in Python, as far as a schema can."""
    expression = {"$ref": _REF + "Expression"}
    null = {"type": "null"}
    rule = defs["Rule"]["properties"]
    rule["when"] = {"anyOf": [expression, null]}
    rule["timezone"] = {"anyOf": [{"type": "string", "minLength": 1}, null]}

    effect = defs["Effect"]
    for kind in KINDS:
        tighter = kind.json_schema(expression)
        if tighter is not None:
            effect["properties"][kind.key] = tighter
    effect["oneOf"] = [_present(kind.key, f"{kind.key} effect") for kind in KINDS]
    defs["AchievementStep"]["properties"]["by"] = {
        "anyOf": [{"type": "integer", "minimum": 1}, expression],
        "default": 1,
    }

    reward = defs["LevelReward"]
    # Levels pay whole points (never an expression) or a benefit; they progress no achievement.
    del reward["properties"]["achievement"]
    reward["properties"]["points"] = {"anyOf": [{"type": "integer"}, null]}
    reward["oneOf"] = [_present("points", "points reward"), _present("benefit", "benefit reward")]

    defs["Cap"]["anyOf"] = [_present("count", "count cap"), _present("points", "points cap")]
    for moment in ("from", "until"):
        defs["Active"]["properties"][moment] = {
            "anyOf": [{"type": "string", "pattern": _AWARE_TIME}, null]
        }
    # The default level is a badge at 1; spelled out, it would be pasted into files by editors.
    del defs["Achievement"]["properties"]["levels"]["default"]


def _explain_patterns(node: Any) -> None:
    """Add an editor message to every pattern we know, in place."""
    if isinstance(node, dict):
        if node.get("pattern") in _PATTERN_MESSAGES:
            node["patternErrorMessage"] = _PATTERN_MESSAGES[node["pattern"]]
        for value in node.values():
            _explain_patterns(value)
    elif isinstance(node, list):
        for item in node:
            _explain_patterns(item)


def _describe(name: str, body: dict[str, Any], table: dict[str, dict[str, str]]) -> None:
    """Give ``body`` its title and description, and each property its description.

    Raises KeyError naming the property when the table lacks one, so a new field in the
    models cannot ship without words for the analyst.
    """
    texts = table[name]
    body["title"] = TITLES.get(name, name)
    body["description"] = texts[""]
    for key, prop in body.get("properties", {}).items():
        prop.pop("title", None)
        if prop.get("default", ...) is None:
            del prop["default"]  # an editor would insert `name: null`
        if key not in texts:
            raise KeyError(f"no description for property {key!r} of {name}")
        prop["description"] = texts[key]


# --- the words -------------------------------------------------------------------------------
# One sentence per property, for the loyalty analyst hovering over a key in an editor. Keyed by
# definition, then property ("" is the definition itself): `name` or `per` mean different things
# in different places.

TITLES: dict[str, str] = {
    "RuleFile": "Reactor rule file",
    "Rule": "Rule",
    "Effect": "Effect",
    "AchievementStep": "Achievement progress",
    "Cap": "Limit or budget",
    "Active": "Active window",
    "Achievement": "Achievement",
    "Level": "Level",
    "LevelReward": "Level reward",
    "Benefit": "Benefit",
    "Expression": "Expression",
    "RuleTestFile": "Reactor rule test file",
    "Defaults": "Defaults",
    "Case": "Test case",
    "Event": "Event",
    "Expect": "Expectations",
    "MemberState": "Expected member state",
    "DecisionExpectation": "Expected decision",
}
"""The title of each definition, as an editor shows it."""

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "RuleFile": {
        "": "Reaction rules and the achievements and benefits they give; every *.yaml file "
        "under the rules folder (except *.test.yaml) is part of one rule set.",
        "rules": "The rules: each says which events trigger it, when it applies and what it "
        "awards.",
        "achievements": "The achievement catalog: badges, levelled achievements and recurring "
        "challenges that rules progress.",
        "benefits": "The benefit catalog: vouchers and perks that rules and achievement levels "
        "issue.",
    },
    "Rule": {
        "": "One reaction rule: when an event of type `on` arrives and `when` holds, the "
        "member gets what `then` lists.",
        "id": "The rule's unique id (lowercase letters, digits, - and _), kept on every ledger "
        "entry and decision it makes.",
        "name": "A readable name for the rule, shown in the rule list and decision records.",
        "on": "The event type (or list of types) that triggers the rule, like "
        "interaction.created or swim.completed.",
        "when": "An optional condition that must be true for the rule to fire, like "
        'action == "feedback" and count(period="month") == 1.',
        "then": "What the rule awards when it fires: a list of points, achievement and benefit "
        "effects.",
        "limit": "A cap per member: at most `count` firings and/or `points` points per day, "
        "week, month, year or lifetime.",
        "budget": "A cap across all members together: at most `count` firings and/or `points` "
        "points per period.",
        "enabled": "Set to false to switch the rule off without deleting it (default true).",
        "active": "The event-time window in which the rule applies; events outside it are "
        "skipped as inactive.",
        "timezone": "The IANA time zone (like Australia/Melbourne) for this rule's periods, "
        "hours, streaks and limits; default REACTOR_TIMEZONE.",
        "on_revoke": "What happens to this rule's awards when the interaction is deleted: "
        "clawback (the default) takes them back, keep leaves them.",
    },
    "Effect": {
        "": "One reward: exactly one of points, achievement or benefit.",
        **{kind.key: kind.description for kind in KINDS},
    },
    "AchievementStep": {
        "": "Progress an achievement by more than one step.",
        "id": "The id of the achievement to progress.",
        "by": "How much to progress it: a positive whole number or an expression (an "
        "expression giving 0 makes no progress).",
    },
    "Cap": {
        "": "A cap on how often a rule fires or how many points it gives in a period; points "
        "beyond it are cut to what remains.",
        "count": "The most times the rule may fire in the period.",
        "points": "The most points the rule may award in the period.",
        "per": "The calendar period the cap resets on, in the rule's time zone (default "
        "lifetime: never resets).",
    },
    "Active": {
        "": "When the rule applies, by the time the event happened.",
        "from": "The first moment the rule applies (inclusive), with an offset, like "
        "2026-12-01T00:00:00+11:00.",
        "until": "The moment the rule stops applying (exclusive), with an offset, like "
        "2027-01-01T00:00:00Z.",
    },
    "Achievement": {
        "": "A badge, a levelled achievement or (with `per`) a recurring challenge.",
        "id": "The achievement's unique id, used by rules' achievement effects.",
        "name": "A readable name for the achievement, shown to members.",
        "levels": "The levels in increasing order of `at`; leave out for a badge reached at "
        "progress 1.",
        "per": "Makes it a recurring challenge: progress restarts every day, week, month or "
        "year in the rule's time zone.",
    },
    "Level": {
        "": "A level, reached once when progress gets to `at`.",
        "at": "The progress at which the level is reached.",
        "name": "The level's name, like Bronze (default Level 1, Level 2, ...).",
        "then": "What reaching the level awards: points and benefits.",
    },
    "LevelReward": {
        "": "A level's reward: exactly one of points or benefit.",
        "points": "Points awarded when the level is reached (a whole number, not an expression).",
        "benefit": "The id of a benefit issued when the level is reached.",
    },
    "Benefit": {
        "": "A benefit that rules and levels can issue.",
        "id": "The benefit's unique id, used by benefit effects.",
        "name": "A readable name for the benefit, shown to members.",
        "expires_after": "How long an issued benefit stays active, like 30d (s, m, h, d or w); "
        "leave out for no expiry.",
    },
    "Expression": {
        "": "A rule expression in Python syntax over the event, the member and their history "
        "(no **, no method calls, no comprehensions).",
    },
}
"""Title-less descriptions of the rule-file schema: definition → property → one sentence."""

TEST_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "RuleTestFile": {
        "": "Test cases for the rules: given events, the expected points, achievements, "
        "benefits and decisions (run by reactor rules test).",
        "defaults": "Values merged into every event of every case.",
        "cases": "The test cases; each starts with members who have nothing.",
    },
    "Defaults": {
        "": "Values merged into every event of every case.",
        "type": "The event type of events that give none (default interaction.created).",
        "timezone": "The time zone for `at` times without an offset (default UTC).",
        "data": "Fields merged under each event's data, like action, channel, signal, name "
        "and namespace.",
    },
    "Case": {
        "": "One scenario: events in order, then what should have happened.",
        "name": "What the case shows, like: the first review this month earns 50.",
        "events": "The events, processed in this order.",
        "expect": "What should be true after the last event.",
    },
    "Event": {
        "": "One event: a webhook envelope in short form.",
        "id": "The event id, to refer to in decisions (default <case number>-<n>).",
        "member": "The member's id (becomes data.profile_id).",
        "at": 'When it happened, like "2026-11-03 10:00" (becomes data.interacted_at for '
        "interaction events, else created_at).",
        "type": "The event type, like interaction.created, interaction.deleted or swim.completed.",
        "interaction": "The interaction id (becomes data.id), to delete an earlier "
        "interaction; generated when left out.",
        "data": "Fields of the event's data, merged over the defaults' data.",
    },
    "Expect": {
        "": "The expected outcome; anything not given is not checked.",
        "members": "Expected state of some members by member id; members not listed are "
        "not checked.",
        "decisions": "What particular rules did with particular events.",
    },
    "MemberState": {
        "": "A member's expected state after the last event; keys not given are not checked.",
        "points": "The exact points balance.",
        "achievements": "Achievement id to progress (in the period of the last event).",
        "levels": "Achievement id to the name of the level reached.",
        "benefits": "Ids of the member's active benefits, in any order.",
    },
    "DecisionExpectation": {
        "": "What one rule did with one event.",
        "event": "The event: its 1-based position in the case, or its id.",
        "rule": "The rule's id.",
        "outcome": "fired, skipped or error (leave out to check only the reason).",
        "reason": "Why it was skipped (condition_false, limit_reached, budget_exhausted, "
        "inactive, deleted) or the error.",
    },
}
"""Descriptions of the rule-test-file schema: definition → property → one sentence."""
