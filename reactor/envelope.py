"""The webhook envelope of spec §2, validated with pydantic, and where its member and time are."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from reactor.errors import InputError
from reactor.shapes import EventType, Strict

Id = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\s\x00-\x1f]+$")]
Text = Annotated[str, StringConstraints(max_length=10_000)]


def _plausible_time(moment: datetime) -> datetime:
    """Event times in UTC, between 1970 and 2999: beyond them a time zone shift overflows
    Python's datetime, and no interaction happened then anyway."""
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range") from None
    if not 1970 <= utc.year <= 2999:
        raise ValueError("time must be between 1970 and 2999")
    return utc


def _not_a_bool(value: Any) -> Any:
    # JSON true would otherwise pass as the signal 1.
    if isinstance(value, bool):
        raise ValueError("signal is -1, 0 or 1, not a boolean")
    return value


EventTime = Annotated[datetime, AfterValidator(_plausible_time)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class Action(StrEnum):
    """What the member did (Omneo's interaction actions)."""

    BROADCAST = "broadcast"
    DISCLOSE = "disclose"
    FEEDBACK = "feedback"
    PRODUCT = "product"
    REACH = "reach"
    REFER = "refer"
    SERVICE = "service"
    VISIT = "visit"
    VIEW = "view"


class Channel(StrEnum):
    """Where the member did it."""

    APP = "app"
    EMAIL = "email"
    LOCATION = "location"
    PUSH = "push"
    SMS = "sms"
    SOCIAL = "social"
    SUPPORT = "support"
    WEBSITE = "website"


class Identity(Strict):
    """A way to recognise a member other than their profile id."""

    type: Literal["email", "mobile", "external_id"]
    value: Annotated[str, StringConstraints(min_length=1, max_length=320, strip_whitespace=True)]

    def normalised_value(self) -> str:
        # Emails differ only by case in practice; one member per mailbox.
        return self.value.lower() if self.type == "email" else self.value


class MemberRef(BaseModel):
    """The member an event is about: a profile id, an identity, or both (which links them)."""

    model_config = ConfigDict(extra="allow")

    profile_id: Id | None = None
    identity: Identity | None = None

    @model_validator(mode="after")
    def _names_a_member(self) -> MemberRef:
        if self.profile_id is None and self.identity is None:
            raise ValueError("data must name a member: profile_id or identity")
        return self


Signal = Annotated[Literal[-1, 0, 1], BeforeValidator(_not_a_bool)]


class InteractionFields(MemberRef):
    """Every field of Omneo's interaction model, each checked when given, none required."""

    id: Id | None = None
    action: Action | None = None
    channel: Channel | None = None
    signal: Signal | None = None
    name: ShortText | None = None
    namespace: ShortText | None = None
    description: Text | None = None
    url: Text | None = None
    duration: Annotated[float, Field(ge=0, le=10**9)] | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    interacted_at: EventTime | None = None
    interacted_type: ShortText | None = None
    interacted_id: ShortText | None = None
    tags: Annotated[list[ShortText], Field(max_length=100)] | None = None
    meta: dict[str, Any] | None = None
    location_id: Id | None = None
    product_id: Id | None = None
    product_variant_id: Id | None = None
    product_category_id: Id | None = None
    staff_id: Id | None = None
    organisation_id: Id | None = None


class Interaction(InteractionFields):
    """Omneo's interaction model: the ``data`` of ``interaction.*`` events."""

    action: Action
    channel: Channel
    signal: Signal
    name: ShortText
    namespace: ShortText


class Deletion(InteractionFields):
    """The ``data`` of ``interaction.deleted``: the interaction's id and the member are enough,
    since a platform deleting a record often sends nothing else (spec §2)."""

    id: Id


DELETED = "interaction.deleted"
"""The event type that reverses what an interaction earned."""


#: Every interaction field, each a name in rule expressions (None when the event lacks it).
INTERACTION_FIELDS: tuple[str, ...] = tuple(Interaction.model_fields)


class Envelope(Strict):
    """One webhook: ``{"id", "type", "created_at", "data"}``."""

    id: Id
    type: EventType
    created_at: EventTime | None = None
    data: dict[str, Any]

    @property
    def is_interaction(self) -> bool:
        return self.type.startswith("interaction.")


def validate_envelope(document: Any, header_id: str | None) -> tuple[Envelope, MemberRef]:
    """Validate a parsed body; the ``webhook-id`` header stands in for a missing ``id``.

    Raises ``InputError`` (422) listing every field problem with its path (``data.action``).
    """
    if not isinstance(document, dict):
        raise InputError(422, "invalid_event", "the body must be a JSON object", [])
    if "id" not in document and header_id is not None:
        document = {**document, "id": header_id}
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as exc:
        raise schema_error(exc) from exc
    model: type[MemberRef] = MemberRef
    if envelope.type == DELETED:
        model = Deletion
    elif envelope.is_interaction:
        model = Interaction
    try:
        return envelope, model.model_validate(envelope.data)
    except ValidationError as exc:
        raise schema_error(exc, ("data",)) from exc


def schema_error(exc: ValidationError, prefix: tuple[str, ...] = ()) -> InputError:
    """422 with one entry per field problem, each with its path."""
    details = [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()
    ]
    first = details[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return InputError(422, "invalid_event", f"{where}: {first['msg']}", details)


def as_utc(moment: datetime) -> datetime:
    """Times without an offset are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def occurred_at(envelope: Envelope, data: MemberRef, received_at: datetime) -> datetime:
    """Event time (I4): when it happened, else when it was sent, else when we received it."""
    interacted = getattr(data, "interacted_at", None)
    if isinstance(interacted, datetime):
        return as_utc(interacted)
    if envelope.created_at is not None:
        return as_utc(envelope.created_at)
    return received_at
