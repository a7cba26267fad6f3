"""Tests for reactor.signatures: Standard Webhooks verification never lets a bad request through."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from reactor.errors import ConfigError, InputError
from reactor.signatures import WebhookVerifier, sign, signed_headers

# The Standard Webhooks known-answer vector (also quoted in docs/dependencies.md).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-24-byte").decode()
VALID_B64_32 = base64.b64encode(bytes(32)).decode()
# Unicode digits that str.isdigit() accepts but a timestamp must not; built, not typed, so the
# source stays free of look-alike characters.
FULLWIDTH_TIMESTAMP = "".join(chr(0xFF10 + int(d)) for d in str(TIMESTAMP))


def vector_headers(signature: str = EXPECTED) -> dict[str, str]:
    return {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": signature,
    }


def rejection(verifier: WebhookVerifier, headers: dict[str, str], body: bytes = BODY) -> str:
    """Verify at the vector's time, expect a 401, and return its message."""
    with pytest.raises(InputError) as caught:
        verifier.verify(headers, body, now=TIMESTAMP)
    assert (caught.value.status, caught.value.code) == (401, "invalid_signature")
    return caught.value.message


def test_sign_matches_the_standard_webhooks_known_answer() -> None:
    """sign() reproduces the published Standard Webhooks test vector."""
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_the_known_answer_vector_verifies() -> None:
    """The published vector verifies at its own timestamp."""
    WebhookVerifier([SECRET]).verify(vector_headers(), BODY, now=TIMESTAMP)


def test_a_secret_without_the_whsec_prefix_works_the_same() -> None:
    """The "whsec_" prefix on a secret is optional."""
    WebhookVerifier([SECRET.removeprefix("whsec_")]).verify(vector_headers(), BODY, now=TIMESTAMP)


def test_header_names_are_case_insensitive_in_a_plain_dict() -> None:
    """A dict with capitalised header names is normalised before lookup."""
    headers = {name.title(): value for name, value in vector_headers().items()}
    WebhookVerifier([SECRET]).verify(headers, BODY, now=TIMESTAMP)


def test_starlette_headers_are_accepted() -> None:
    """A starlette Headers object (as a request gives) verifies like a dict."""
    raw = [(k.upper().encode(), v.encode()) for k, v in vector_headers().items()]
    WebhookVerifier([SECRET]).verify(Headers(raw=raw), BODY, now=TIMESTAMP)


def test_a_tampered_body_is_rejected() -> None:
    """Changing one byte of the body makes the signature fail."""
    message = rejection(WebhookVerifier([SECRET]), vector_headers(), b'{"test": 2432232315}')
    assert message == "no valid signature in header webhook-signature"


def test_a_tampered_id_is_rejected() -> None:
    """The webhook-id is part of the signed content."""
    headers = {**vector_headers(), "webhook-id": MSG_ID + "x"}
    assert "no valid signature" in rejection(WebhookVerifier([SECRET]), headers)


def test_a_wrong_secret_is_rejected() -> None:
    """A signature made with another secret does not verify."""
    assert "no valid signature" in rejection(WebhookVerifier([OTHER_SECRET]), vector_headers())


@pytest.mark.parametrize(
    "secrets",
    [[SECRET, OTHER_SECRET], [OTHER_SECRET, SECRET]],
    ids=["old-secret-first", "new-secret-first"],
)
def test_either_secret_verifies_during_rotation(secrets: list[str]) -> None:
    """With two secrets configured, signatures from either one verify."""
    verifier = WebhookVerifier(secrets)
    verifier.verify(vector_headers(), BODY, now=TIMESTAMP)
    other = signed_headers(OTHER_SECRET, MSG_ID, BODY, timestamp=TIMESTAMP)
    verifier.verify(other, BODY, now=TIMESTAMP)


def test_a_sender_signing_with_both_secrets_verifies_against_either() -> None:
    """A header listing signatures from old and new secrets passes a verifier knowing only one."""
    both = f"{sign(OTHER_SECRET, MSG_ID, TIMESTAMP, BODY)} {EXPECTED}"
    WebhookVerifier([SECRET]).verify(vector_headers(both), BODY, now=TIMESTAMP)
    WebhookVerifier([OTHER_SECRET]).verify(vector_headers(both), BODY, now=TIMESTAMP)


@pytest.mark.parametrize(
    ("offset", "accepted", "message"),
    [
        (0, True, ""),
        (300, True, ""),
        (-300, True, ""),
        (301, False, "header webhook-timestamp is too old"),
        (-301, False, "header webhook-timestamp is too far in the future"),
        (86_400 * 365, False, "header webhook-timestamp is too old"),
    ],
    ids=["now", "at-tolerance-old", "at-tolerance-future", "stale", "future", "a-year-old"],
)
def test_the_timestamp_must_be_within_the_tolerance(
    offset: int, accepted: bool, message: str
) -> None:
    """Timestamps up to 5 minutes either side of now pass; beyond that they fail by name."""
    verifier = WebhookVerifier([SECRET])
    now = TIMESTAMP + offset
    if accepted:
        verifier.verify(vector_headers(), BODY, now=now)
        return
    with pytest.raises(InputError) as caught:
        verifier.verify(vector_headers(), BODY, now=now)
    assert caught.value.message == message


def test_the_tolerance_is_configurable() -> None:
    """A verifier built with a 10-second tolerance refuses a 60-second-old message."""
    with pytest.raises(InputError, match="too old"):
        WebhookVerifier([SECRET], tolerance_seconds=10).verify(
            vector_headers(), BODY, now=TIMESTAMP + 60
        )


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        ("1614265330.0", "not an integer"),
        ("1614265330.5", "not an integer"),
        ("-1614265330", "not an integer"),
        ("+1614265330", "not an integer"),
        (" 1614265330", "not an integer"),
        ("1e9", "not an integer"),
        ("abc", "not an integer"),
        (FULLWIDTH_TIMESTAMP, "not an integer"),
        ("1614265330²", "not an integer"),
        ("9" * 10_000, "too far in the future"),
        ("0" * 10_000 + "1614265330", "no valid signature"),
        ("0", "too old"),
    ],
    ids=[
        "float",
        "fraction",
        "negative",
        "plus-sign",
        "leading-space",
        "exponent",
        "garbage",
        "fullwidth-digits",
        "superscript",
        "ten-thousand-digits",
        "zero-padded-is-the-same-time-but-not-the-signed-text",
        "epoch",
    ],
)
def test_bad_timestamps_are_rejected_by_name(timestamp: str, message: str) -> None:
    """Timestamps that are not plain ASCII digits within the window give a specific 401."""
    headers = {**vector_headers(), "webhook-timestamp": timestamp}
    assert message in rejection(WebhookVerifier([SECRET]), headers)


@pytest.mark.parametrize(
    "signature",
    [
        "",
        " ",
        "v1,",
        "v1,!!!",
        f"v2,{EXPECTED[3:]}",
        f"v1a,{EXPECTED[3:]}",
        EXPECTED[3:],
        "v1" + EXPECTED[3:],
        f"v1,{VALID_B64_32}",
        f"v1,{base64.b64encode(bytes(16)).decode()}",
        f"v1,{EXPECTED[3:].rstrip('=')}",
        "v1,é✓🙂\ud800",
        "v1,\x00\x00",
        "v1," + "A" * 10_000,
        " ".join(["v1,!!!"] * 2_000),
        EXPECTED.upper(),
    ],
    ids=[
        "empty",
        "only-space",
        "no-signature-after-comma",
        "not-base64",
        "other-version",
        "version-with-suffix",
        "no-version",
        "no-comma",
        "valid-base64-wrong-mac",
        "wrong-length",
        "missing-padding",
        "unicode-and-lone-surrogate",
        "nul-bytes",
        "ten-thousand-chars",
        "two-thousand-malformed-entries",
        "wrong-case",
    ],
)
def test_garbage_signature_headers_are_a_clean_401(signature: str) -> None:
    """Malformed signature headers never raise anything but InputError 401."""
    assert rejection(WebhookVerifier([SECRET]), vector_headers(signature))


@pytest.mark.parametrize(
    "signature",
    [
        f"v1,!!! {EXPECTED}",
        f"v2,{EXPECTED[3:]} nocomma v1, {EXPECTED}",
        f"{'v1,' + 'A' * 10_000} {EXPECTED}",
        f"v1,{VALID_B64_32}   {EXPECTED}",
        f"{EXPECTED} v1,!!!",
        f"v1,é✓ {EXPECTED}",
    ],
    ids=[
        "after-bad-base64",
        "after-several-malformed",
        "after-ten-thousand-chars",
        "after-wrong-mac-and-extra-spaces",
        "before-malformed",
        "after-unicode",
    ],
)
def test_a_valid_entry_anywhere_in_the_header_verifies(signature: str) -> None:
    """Malformed entries are skipped, so a valid one later in the list still passes."""
    WebhookVerifier([SECRET]).verify(vector_headers(signature), BODY, now=TIMESTAMP)


@pytest.mark.parametrize(
    ("missing", "blank"),
    [
        ("webhook-id", False),
        ("webhook-timestamp", False),
        ("webhook-signature", False),
        ("webhook-id", True),
        ("webhook-timestamp", True),
    ],
    ids=["no-id", "no-timestamp", "no-signature", "empty-id", "empty-timestamp"],
)
def test_a_missing_header_is_named(missing: str, blank: bool) -> None:
    """Each required header, absent or empty, gives "missing header <name>"."""
    headers = vector_headers()
    if blank:
        headers[missing] = ""
    else:
        del headers[missing]
    assert rejection(WebhookVerifier([SECRET]), headers) == f"missing header {missing}"


@pytest.mark.parametrize(
    "msg_id",
    ["msg_é", "msg\x00", "msg\ud800", "msg\nx"],
    ids=["non-ascii", "nul", "lone-surrogate", "newline"],
)
def test_an_unprintable_or_non_ascii_id_is_a_clean_401(msg_id: str) -> None:
    """A webhook-id that could never be signed reliably is refused by name, not with a 500."""
    headers = {**vector_headers(), "webhook-id": msg_id}
    assert rejection(WebhookVerifier([SECRET]), headers) == (
        "header webhook-id must be printable ASCII"
    )


@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "other"]),
        st.text(max_size=60),
    ),
    body=st.binary(max_size=60),
)
def test_arbitrary_headers_never_raise_anything_but_input_error(
    headers: dict[str, str], body: bytes
) -> None:
    """Whatever the header values, verify either passes or raises InputError 401."""
    try:
        WebhookVerifier([SECRET]).verify(headers, body, now=TIMESTAMP)
    except InputError as exc:
        assert exc.status == 401


def test_signed_headers_round_trip_at_the_current_time() -> None:
    """signed_headers() with no timestamp produces headers that verify now."""
    headers = signed_headers(SECRET, "msg_1", b"{}")
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    WebhookVerifier([SECRET]).verify(headers, b"{}")


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ([SECRET, "whsec_not base64!"], "webhook secret #2 is not valid base64"),
        (["whsec_"], "webhook secret #1 is empty"),
        (["", SECRET], "webhook secret #1 is empty"),
        (["whsec_é"], "webhook secret #1 is not valid base64"),
        (["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"], "webhook secret #1 is not valid base64"),
        ([], "no webhook secrets given"),
    ],
    ids=["bad-base64", "prefix-only", "empty-string", "non-ascii", "bad-padding", "none"],
)
def test_a_bad_secret_in_config_is_a_config_error_naming_its_position(
    secrets: list[str], message: str
) -> None:
    """Undecodable or empty secrets raise ConfigError by position, never echoing the secret."""
    with pytest.raises(ConfigError) as caught:
        WebhookVerifier(secrets)
    assert str(caught.value) == message
    for secret in secrets:
        if secret.removeprefix("whsec_"):
            assert secret.removeprefix("whsec_") not in str(caught.value)


def test_a_single_string_instead_of_a_list_is_a_config_error() -> None:
    """Passing one secret string (not a list) is refused rather than split into characters."""
    with pytest.raises(ConfigError, match="not one string"):
        WebhookVerifier(SECRET)


def test_sign_with_a_bad_secret_is_a_config_error() -> None:
    """The outbound signer refuses an undecodable secret the same way."""
    with pytest.raises(ConfigError, match="not valid base64"):
        sign("whsec_%%%", MSG_ID, TIMESTAMP, BODY)
