"""Typed OIOI messages: ``station-post``, ``connector-post-status`` and their answers.

Field names are the protocol's (hyphenated on the wire). Encoding follows the
spec example: ``web`` for the website, strings for ``street-number`` and
``notes``, floats for coordinates and speed, optional fields left out when empty.
Models are strict, so a mistyped field is refused rather than coerced.
"""

import hashlib
import json
import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .ids import EVSE_ID_PATTERN, OPERATOR_ID_PATTERN
from ..errors import UserError

__all__ = [
    "ConnectorType", "ConnectorStatus", "Weekday", "Address", "Contact", "Connector", "OpenHourNote",
    "Station", "StationPost", "ConnectorPostStatus", "Result", "ResultResponse",
    "ConnectorPostStatusResponse", "MESSAGE_TYPES", "encode", "decode_request", "ValidationError",
    "UnknownMessageType", "describe_validation_error",
]


class ConnectorType(str, Enum):
    """The 19 connector names of station_post.rst, in the spec's order."""

    TYPE2 = "Type2"
    COMBO = "Combo"
    CHADEMO = "Chademo"
    SCHUKO = "Schuko"
    TYPE3 = "Type3"
    CEE_BLUE = "CeeBlue"
    THREE_PIN_SQUARE = "3PinSquare"
    TYPE1 = "Type1"
    CEE_RED = "CeeRed"
    CEE_2_POLES = "Cee2Poles"
    TESLA = "Tesla"
    SCAME = "Scame"
    NEMA5 = "Nema5"
    CEE_PLUS = "CeePlus"
    T13 = "T13"
    T15 = "T15"
    T23 = "T23"
    MARECHAL = "Marechal"
    TYPE_E = "TypeE"


class ConnectorStatus(str, Enum):
    AVAILABLE = "Available"
    OCCUPIED = "Occupied"
    OFFLINE = "Offline"
    RESERVED = "Reserved"
    UNKNOWN = "Unknown"


class Weekday(str, Enum):
    MO = "Mo"
    TU = "Tu"
    WE = "We"
    TH = "Th"
    FR = "Fr"
    SA = "Sa"
    SU = "Su"


_TIME = re.compile(r"^([01]\d|2[0-4]):[0-5]\d$")


def _hyphenate(name: str) -> str:
    return name.replace("_", "-")


class _Message(BaseModel):
    model_config = ConfigDict(
        alias_generator=_hyphenate, populate_by_name=True, strict=True, extra="forbid", frozen=True
    )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


NonEmpty = Annotated[str, Field(min_length=1)]
# Enums arrive as their wire strings; strict mode would insist on enum instances.
ConnectorTypeField = Annotated[ConnectorType, Field(strict=False)]
WeekdayField = Annotated[Weekday, Field(strict=False)]
StatusField = Annotated[ConnectorStatus, Field(strict=False)]


class Address(_Message):
    street: NonEmpty
    street_number: str
    city: NonEmpty
    zip: str
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class Contact(_Message):
    phone: str
    fax: str | None = None
    # The field list says "website", the example and existing clients send "web".
    web: str | None = Field(default=None, validation_alias=AliasChoices("web", "website"))
    email: str | None = None

    _blank = field_validator("fax", "web", "email", mode="before")(_blank_to_none)


class Connector(_Message):
    id: Annotated[str, Field(pattern=rf"^{EVSE_ID_PATTERN}$")]
    name: ConnectorTypeField
    speed: Annotated[float, Field(gt=0)]


class OpenHourNote(_Message):
    times: Annotated[list[str], Field(min_length=2, max_length=2)]
    days: Annotated[list[WeekdayField], Field(min_length=2, max_length=2)]

    @field_validator("times")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        for time in value:
            if not _TIME.match(time):
                raise ValueError(f"time {time!r} is not HH:MM")
        return value


class Station(_Message):
    id: NonEmpty
    name: NonEmpty
    description: str | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    address: Address
    contact: Contact
    cpo_id: Annotated[str, Field(pattern=rf"^{OPERATOR_ID_PATTERN}$")]
    is_open_24: bool
    connectors: Annotated[list[Connector], Field(min_length=1)]
    open_hour_notes: list[OpenHourNote] | None = None
    notes: str | None = None
    is_reservable: bool | None = None
    floor_level: int | None = None
    is_free_charge: bool | None = None
    total_parking: Annotated[int, Field(ge=0)] | None = None
    is_green_power_available: bool | None = None
    is_plugin_charge: bool | None = None
    is_roofed: bool | None = None
    is_private: bool | None = None
    deleted: bool = False

    _blank = field_validator("description", "notes", mode="before")(_blank_to_none)

    @field_validator("open_hour_notes", mode="before")
    @classmethod
    def _no_empty_list(cls, value: Any) -> Any:
        return None if value == [] else value

    @model_validator(mode="after")
    def _connectors_distinct(self) -> "Station":
        # One EVSE id may name several connectors, but only of different types.
        seen = set()
        for connector in self.connectors:
            key = (connector.id.replace("*", "").upper(), connector.name)
            if key in seen:
                raise ValueError(f"connector {connector.id} ({connector.name.value}) is listed twice")
            seen.add(key)
        return self

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["deleted"] = self.deleted  # listed as a field, not optional: always sent
        return data


class StationPost(_Message):
    station: Station
    partner_identifier: NonEmpty

    type: Literal["station-post"] = Field(default="station-post", exclude=True)


class ConnectorPostStatus(_Message):
    connector_id: NonEmpty
    status: StatusField
    partner_identifier: NonEmpty

    type: Literal["connector-post-status"] = Field(default="connector-post-status", exclude=True)


class Result(_Message):
    code: int
    message: str = ""


class ResultResponse(_Message):
    """``{"result": {"code": 0, "message": "Success."}}``"""

    model_config = ConfigDict(extra="ignore")
    result: Result


class ConnectorPostStatusResponse(_Message):
    """``{"connector-post-status": {"success": true}}``, as some receivers answer."""

    model_config = ConfigDict(extra="ignore")
    connector_post_status: dict[str, bool]


MESSAGE_TYPES: dict[str, type[_Message]] = {
    "station-post": StationPost,
    "connector-post-status": ConnectorPostStatus,
}


def canonical_sha256(value: Any) -> str:
    """The one hash of a JSON value: sorted keys, no spaces, UTF-8 (non-ASCII text as itself).

    Station objects, request bodies and connector signatures are all compared by it,
    so the same content hashes the same wherever it was computed.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode(message: StationPost | ConnectorPostStatus) -> dict[str, Any]:
    """The request body: the message type is the single top-level key."""
    return {message.type: message.to_json()}


class UnknownMessageType(UserError):
    pass


def decode_request(body: Any) -> StationPost | ConnectorPostStatus:
    """A request body -> its message. Raises UnknownMessageType or ValidationError."""
    if not isinstance(body, dict) or len(body) != 1:
        raise UnknownMessageType("the body must be a JSON object with exactly one message type as its key")
    (kind, payload), = body.items()
    model = MESSAGE_TYPES.get(kind)
    if model is None:
        raise UnknownMessageType(f"unknown message type {kind!r}; expected one of {', '.join(MESSAGE_TYPES)}")
    return model.model_validate(payload)


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One line naming each bad field by its wire path, e.g. ``station.address.zip``."""
    parts = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"] if p not in ("function-after",))
        parts.append(f"{prefix}{path}: {item['msg']}" if path else item["msg"])
    return "; ".join(parts)
