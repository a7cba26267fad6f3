"""The receiver over real HTTP: what it accepts, what it refuses; refusals write nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from reactor.app import create_app
from reactor.runtime import Runtime
from reactor.signatures import signed_headers
from reactor.storage import tables
from tests.conftest import make_settings
from tests.support import encode, interaction, post, serve_app

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_c2VjcmV0LWZyb20tbGFzdC15ZWFyLTEyMzQ1Ng=="


@pytest.fixture
def runtime(sqlite_url: str, rules_dir: Path) -> Iterator[Runtime]:
    """A runtime whose broker nobody consumes: these tests are about intake only."""
    settings = make_settings(database_url=sqlite_url, rules_path=rules_dir, max_body_bytes=4096)
    yield Runtime(settings)


@pytest.fixture
def base(runtime: Runtime) -> Iterator[str]:
    with serve_app(create_app(runtime, run_workers=False)) as url:
        yield url


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def stored_events(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tables.events)).scalar_one()


def test_a_valid_event_is_accepted_and_stored_pending(
    client: httpx.Client, base: str, runtime: Runtime
) -> None:
    """202 accepted means the event is in the database, pending."""
    response = post(client, base, encode(interaction("evt_1")))
    assert response.status_code == 202
    assert response.json() == {"id": "evt_1", "status": "accepted"}
    event = client.get(f"{base}/events/evt_1").json()
    assert event["status"] == "pending"
    assert event["member_id"] == "m1"
    assert event["occurred_at"] == "2026-11-21T22:59:12+00:00"


def test_a_deletion_with_only_the_interaction_id_and_member_is_accepted(
    client: httpx.Client, base: str, runtime: Runtime
) -> None:
    """interaction.deleted needs data.id and the member, nothing else (spec §2)."""
    data = {"id": "int_1", "profile_id": "m1"}
    deletion = {"id": "del_1", "type": "interaction.deleted", "data": data}
    response = post(client, base, encode(deletion))
    assert (response.status_code, response.json()["status"]) == (202, "accepted")
    assert stored_events(runtime) == 1


def test_the_same_event_twice_is_a_duplicate(
    client: httpx.Client, base: str, runtime: Runtime
) -> None:
    """A redelivered webhook answers 200 duplicate and stores nothing new."""
    body = encode(interaction("evt_1"))
    assert post(client, base, body).status_code == 202
    again = post(client, base, json.dumps(json.loads(body), indent=2).encode())
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert stored_events(runtime) == 1


def test_the_same_id_with_a_different_body_is_a_conflict(
    client: httpx.Client, base: str, runtime: Runtime
) -> None:
    """Reusing an event id for different content is refused with 409."""
    assert post(client, base, encode(interaction("evt_1"))).status_code == 202
    response = post(client, base, encode(interaction("evt_1", signal=-1)))
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert stored_events(runtime) == 1


def test_a_second_event_for_the_same_interaction_is_a_duplicate(
    client: httpx.Client, base: str, runtime: Runtime
) -> None:
    """interaction.created with an already-seen data.id is a duplicate, whatever its event id."""
    assert (
        post(client, base, encode(interaction("evt_1", interaction_id="int_9"))).status_code == 202
    )
    response = post(client, base, encode(interaction("evt_2", interaction_id="int_9")))
    assert (response.status_code, response.json()["status"]) == (200, "duplicate")
    assert stored_events(runtime) == 1


def test_the_webhook_id_header_stands_in_for_a_missing_id(client: httpx.Client, base: str) -> None:
    """An envelope without id takes the webhook-id header as its idempotency key."""
    document = interaction("unused")
    del document["id"]
    response = post(client, base, encode(document), **{"webhook-id": "msg_42"})
    assert response.json() == {"id": "msg_42", "status": "accepted"}


def test_an_identity_resolves_to_one_member(client: httpx.Client, base: str) -> None:
    """Events naming a member only by email land on the same member every time, any case."""
    first = interaction("evt_1", identity={"type": "email", "value": "Ann@Example.com"})
    second = interaction("evt_2", identity={"type": "email", "value": "ann@example.com"})
    for document in (first, second):
        del document["data"]["profile_id"]
        assert post(client, base, encode(document)).status_code == 202
    one = client.get(f"{base}/events/evt_1").json()["member_id"]
    two = client.get(f"{base}/events/evt_2").json()["member_id"]
    assert one == two and one.startswith("mem_")


def test_other_event_types_need_only_a_member(client: httpx.Client, base: str) -> None:
    """A non-interaction type with a member and free-form data is accepted."""
    document = {
        "id": "evt_s",
        "type": "swim.completed",
        "data": {"profile_id": "m1", "distance_m": 1500},
    }
    assert post(client, base, encode(document)).status_code == 202


def _deep(levels: int) -> bytes:
    return b'{"id":"e","type":"interaction.created","data":' + b"[" * levels + b"]" * levels + b"}"


MEMBER = {"profile_id": "m1"}

BAD_INPUTS = [
    # (id, content-type, body, status, error code)
    (
        "not-json-content-type",
        "text/plain",
        encode(interaction("e")),
        415,
        "unsupported_media_type",
    ),
    ("latin1-charset", "application/json; charset=latin-1", b"{}", 415, "unsupported_media_type"),
    ("malformed-json", "application/json", b'{"id": "e",', 400, "malformed_json"),
    ("empty-body", "application/json", b"", 400, "malformed_json"),
    (
        "nan",
        "application/json",
        b'{"id": "e", "type": "x.y", "data": {"n": NaN}}',
        400,
        "invalid_number",
    ),
    (
        "infinity",
        "application/json",
        b'{"id": "e", "data": {"n": -Infinity}}',
        400,
        "invalid_number",
    ),
    ("huge-number", "application/json", b'{"n": ' + b"9" * 3000 + b"}", 400, "invalid_number"),
    ("duplicate-key", "application/json", b'{"id": "a", "id": "b"}', 400, "duplicate_key"),
    ("bad-utf8", "application/json", b'{"id": "\xff\xfe"}', 400, "invalid_encoding"),
    (
        "utf16",
        "application/json",
        json.dumps({"id": "e"}).encode("utf-16"),
        400,
        "invalid_encoding",
    ),
    ("nul-char", "application/json", b'{"id": "a\\u0000b"}', 400, "invalid_string"),
    ("lone-surrogate", "application/json", b'{"id": "\\ud800"}', 400, "invalid_string"),
    ("too-deep", "application/json", _deep(100), 400, "too_deep"),
    ("top-level-array", "application/json", b"[]", 422, "invalid_event"),
    (
        "missing-type",
        "application/json",
        b'{"id": "e", "data": {"profile_id": "m"}}',
        422,
        "invalid_event",
    ),
    (
        "unknown-action",
        "application/json",
        encode(interaction("e", action="dance")),
        422,
        "invalid_event",
    ),
    ("bad-signal", "application/json", encode(interaction("e", signal=2)), 422, "invalid_event"),
    (
        "no-member",
        "application/json",
        encode(interaction("e", profile_id=None)),
        422,
        "invalid_event",
    ),
    (
        "data-not-object",
        "application/json",
        b'{"id": "e", "type": "x.y", "data": 1}',
        422,
        "invalid_event",
    ),
    (
        "too-large",
        "application/json",
        encode(interaction("e", description="x" * 5000)),
        413,
        "payload_too_large",
    ),
    (
        "time-overflows",
        "application/json",
        encode(interaction("e", interacted_at="0001-01-01T00:00:00+14:00")),
        422,
        "invalid_event",
    ),
    (
        "time-far-future",
        "application/json",
        encode(interaction("e", interacted_at="9999-12-31T23:59:59-14:00")),
        422,
        "invalid_event",
    ),
    (
        "created-at-1900",
        "application/json",
        encode({"id": "e", "type": "x.y", "created_at": "1900-01-01T00:00:00Z", "data": MEMBER}),
        422,
        "invalid_event",
    ),
    (
        "signal-true",
        "application/json",
        encode(interaction("e", signal=True)),
        422,
        "invalid_event",
    ),
]


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [b[1:] for b in BAD_INPUTS],
    ids=[b[0] for b in BAD_INPUTS],
)
def test_bad_input_gets_its_4xx_and_writes_nothing(
    client: httpx.Client,
    base: str,
    runtime: Runtime,
    content_type: str,
    body: bytes,
    status: int,
    code: str,
) -> None:
    """Every class of client mistake answers its status with a JSON error; nothing is stored."""
    response = client.post(f"{base}/webhooks", content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error"] == code
    assert payload["message"]
    assert isinstance(payload["details"], list)
    assert stored_events(runtime) == 0


def test_schema_errors_name_the_field_path(client: httpx.Client, base: str) -> None:
    """A 422 lists each bad field with its path under data."""
    response = post(client, base, encode(interaction("e", action="dance", channel="fax")))
    locs = [d["loc"] for d in response.json()["details"]]
    assert ["data", "action"] in locs and ["data", "channel"] in locs


def test_a_chunked_body_over_the_limit_is_refused(
    client: httpx.Client, base: str, runtime: Runtime
) -> None:
    """The size cap counts bytes actually read, not the Content-Length a client claims."""

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = client.post(
        f"{base}/webhooks", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert stored_events(runtime) == 0


def test_an_unknown_event_is_a_404(client: httpx.Client, base: str) -> None:
    """GET /events/{id} answers 404 in the error format for an id never received."""
    response = client.get(f"{base}/events/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_the_database_being_down_answers_503(
    client: httpx.Client, tmp_path: Path, rules_dir: Path
) -> None:
    """When our own database cannot be reached the sender is told to retry (503), not 4xx."""
    missing = tmp_path / "no" / "such" / "dir" / "reactor.db"
    runtime = Runtime(make_settings(database_url=f"sqlite:///{missing}", rules_path=rules_dir))
    with serve_app(create_app(runtime, run_workers=False)) as url:
        response = post(client, url, encode(interaction("evt_1")))
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"


class TestSignatures:
    """With secrets configured every request must carry a valid Standard Webhooks signature."""

    @pytest.fixture
    def runtime(self, sqlite_url: str, rules_dir: Path) -> Iterator[Runtime]:
        settings = make_settings(
            database_url=sqlite_url, rules_path=rules_dir, webhook_secrets=f"{SECRET},{OLD_SECRET}"
        )
        yield Runtime(settings)

    def test_a_signed_event_is_accepted(self, client: httpx.Client, base: str) -> None:
        """A correct signature with the current secret is accepted."""
        body = encode(interaction("evt_1"))
        assert post(client, base, body, **signed_headers(SECRET, "msg_1", body)).status_code == 202

    def test_the_previous_secret_still_verifies_during_rotation(
        self, client: httpx.Client, base: str
    ) -> None:
        """Either configured secret verifies, so senders can rotate."""
        body = encode(interaction("evt_1"))
        assert (
            post(client, base, body, **signed_headers(OLD_SECRET, "msg_1", body)).status_code == 202
        )

    @pytest.mark.parametrize(
        "tamper",
        ["body", "unsigned", "wrong-secret", "garbage-signature", "stale", "future"],
    )
    def test_a_bad_signature_is_401_and_writes_nothing(
        self, client: httpx.Client, base: str, runtime: Runtime, tamper: str
    ) -> None:
        """Tampered bodies, wrong secrets, garbage headers and old or future timestamps get 401."""
        import time

        body = encode(interaction("evt_1"))
        now = int(time.time())
        headers = signed_headers(SECRET, "msg_1", body)
        if tamper == "body":
            body = encode(interaction("evt_1", signal=0))
        elif tamper == "unsigned":
            headers = {}
        elif tamper == "wrong-secret":
            headers = signed_headers("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", "msg_1", body)
        elif tamper == "garbage-signature":
            headers["webhook-signature"] = "v1,!!! v1 garbage ,,,"
        elif tamper == "stale":
            headers = signed_headers(SECRET, "msg_1", body, timestamp=now - 301)
        elif tamper == "future":
            headers = signed_headers(SECRET, "msg_1", body, timestamp=now + 301)
        response = post(client, base, body, **headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_signature"
        assert stored_events(runtime) == 0
