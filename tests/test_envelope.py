"""The envelope model: whatever JSON arrives, the answer is a stored event or a clear 4xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.envelope import occurred_at, validate_envelope
from reactor.errors import InputError
from tests.support import interaction

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-11-22T10:00:00Z", "x"]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "id",
        "action",
        "channel",
        "signal",
        "interacted_at",
        "duration",
        "tags",
        "meta",
        "identity",
        "profile_id",
        "latitude",
        "name",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(field=FIELDS, value=JSON, created_at=SCALARS)
def test_any_field_value_is_accepted_or_refused_cleanly(
    field: str, value: Any, created_at: Any
) -> None:
    """A mutated interaction validates, or raises InputError 422 — never anything else."""
    document = interaction("evt_1", **{field: value})
    document["created_at"] = created_at
    json.dumps(document)  # what a webhook could carry
    try:
        envelope, member = validate_envelope(document, None)
    except InputError as exc:
        assert exc.status == 422 and exc.details
        return
    moment = occurred_at(envelope, member, datetime.now(UTC))
    assert moment.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(document=JSON, header=st.none() | st.text(max_size=20))
def test_any_json_document_is_accepted_or_refused_cleanly(
    document: Any, header: str | None
) -> None:
    """Arbitrary JSON as a whole body: an envelope or a 422, never a crash."""
    try:
        validate_envelope(document, header)
    except InputError as exc:
        assert exc.status == 422


def test_a_deletion_needs_only_the_interaction_id_and_the_member() -> None:
    """interaction.deleted with ``data.id`` and the member is valid; with either missing, 422."""
    minimal = {"id": "del_1", "type": "interaction.deleted", "data": {"id": "int_1"}}
    by_profile = {**minimal, "data": {"id": "int_1", "profile_id": "m1"}}
    envelope, member = validate_envelope(by_profile, None)
    assert (envelope.type, member.profile_id) == ("interaction.deleted", "m1")
    by_identity = {
        **minimal,
        "data": {"id": "int_1", "identity": {"type": "email", "value": "a@b.c"}},
    }
    assert validate_envelope(by_identity, None)[1].identity is not None
    for missing in (minimal, {**minimal, "data": {"profile_id": "m1"}}):
        with pytest.raises(InputError) as caught:
            validate_envelope(missing, None)
        assert caught.value.status == 422


def test_a_created_interaction_still_needs_its_fields() -> None:
    """Only deletions are relaxed: interaction.created without action is still 422."""
    document = interaction("evt_1")
    del document["data"]["action"]
    with pytest.raises(InputError) as caught:
        validate_envelope(document, None)
    assert caught.value.status == 422 and "action" in json.dumps(caught.value.body())
