"""Standard Webhooks signing and verification (HMAC-SHA256), with secret rotation."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from reactor.errors import ConfigError, InputError

SECRET_PREFIX = "whsec_"
_SIGNATURE_VERSION = "v1"
_SIGNATURE_BYTES = hashlib.sha256().digest_size
# Ten digits last until the year 2286; anything longer is refused before int() so a
# 10,000-digit header cannot trip CPython's int-conversion limit.
_MAX_TIMESTAMP_DIGITS = 12


def _reject(message: str) -> InputError:
    return InputError(401, "invalid_signature", message)


def _decode_secret(secret: str, position: int | None = None) -> bytes:
    """Turn "whsec_<base64>" into key bytes; errors name the position, never the secret."""
    name = "webhook secret" if position is None else f"webhook secret #{position}"
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        # ValueError too: b64decode refuses non-ASCII str with it rather than binascii.Error.
        raise ConfigError(f"{name} is not valid base64") from None
    if not key:
        raise ConfigError(f"{name} is empty")
    return key


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def _entry_signature(entry: str) -> bytes | None:
    """The raw bytes of one "v1,<base64>" entry, or None for anything malformed or unknown."""
    version, comma, encoded = entry.partition(",")
    if not comma or version != _SIGNATURE_VERSION:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == _SIGNATURE_BYTES else None


def _lowercase_headers(headers: Mapping[str, str]) -> dict[str, str]:
    # First value wins, as with starlette's Headers.__getitem__, so a plain dict and a real
    # request agree.
    result: dict[str, str] = {}
    for name, value in headers.items():
        result.setdefault(name.lower(), value)
    return result


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the "v1,<base64>" signature of a message, for outbound webhooks and tests."""
    key = _decode_secret(secret)
    digest = _signature(key, msg_id, str(timestamp), body)
    return f"{_SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signed_headers(
    secret: str, msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Return the three Standard Webhooks headers for a body (timestamp defaults to now)."""
    when = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(when),
        "webhook-signature": sign(secret, msg_id, when, body),
    }


class WebhookVerifier:
    """Checks Standard Webhooks signatures against one or more secrets (several for rotation)."""

    def __init__(self, secrets: Sequence[str], tolerance_seconds: int = 300) -> None:
        if isinstance(secrets, str):
            # A bare string is a Sequence[str] too; iterating it would yield one "secret" per
            # character, so refuse it rather than fail confusingly later.
            raise ConfigError("webhook secrets must be a list of secrets, not one string")
        if not secrets:
            raise ConfigError("no webhook secrets given")
        if tolerance_seconds < 0:
            raise ConfigError("webhook tolerance_seconds must not be negative")
        self._keys = [_decode_secret(s, i) for i, s in enumerate(secrets, start=1)]
        self._tolerance = tolerance_seconds

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        """Return if the request is signed by any configured secret; else raise InputError 401."""
        lowered = _lowercase_headers(headers)
        msg_id = self._required(lowered, "webhook-id")
        timestamp = self._required(lowered, "webhook-timestamp")
        header = self._required(lowered, "webhook-signature")
        # The id is signed as UTF-8 but servers decode header bytes as latin-1, so a non-ASCII
        # id could never verify reliably; say so instead of "no valid signature".
        if not (msg_id.isascii() and msg_id.isprintable()):
            raise _reject("header webhook-id must be printable ASCII")
        self._check_timestamp(timestamp, time.time() if now is None else now)

        expected = [_signature(key, msg_id, timestamp, body) for key in self._keys]
        for entry in header.split():
            given = _entry_signature(entry)
            if given is None:
                continue
            # compare_digest so the time taken does not reveal how many bytes matched.
            if any(hmac.compare_digest(given, want) for want in expected):
                return
        raise _reject("no valid signature in header webhook-signature")

    @staticmethod
    def _required(headers: Mapping[str, str], name: str) -> str:
        value = headers.get(name, "")
        if not value:
            raise _reject(f"missing header {name}")
        return value

    def _check_timestamp(self, timestamp: str, now: float) -> None:
        # isascii() as well: isdigit() alone accepts "²" and Arabic-Indic digits.
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise _reject("header webhook-timestamp is not an integer number of seconds")
        # Leading zeros do not change the value, and stripping them keeps the digit cap honest.
        digits = timestamp.lstrip("0") or "0"
        if len(digits) > _MAX_TIMESTAMP_DIGITS or int(digits) > now + self._tolerance:
            raise _reject("header webhook-timestamp is too far in the future")
        if int(digits) < now - self._tolerance:
            raise _reject("header webhook-timestamp is too old")
