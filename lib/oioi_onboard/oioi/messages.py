"""Typed OIOI messages: ``station-post``, ``connector-post-status`` and their answers.

Field names are the protocol's (hyphenated on the wire). Encoding follows the
spec example: strings for ``street-number`` and ``notes``, floats for
coordinates and speed, optional fields left out when empty. Models are strict,
so a mistyped field is refused rather than coerced.

One model for the wire
----------------------
These models are what we send and what the sandbox accepts (it decodes every
request with ``decode_request``), so both hold the same rules as the sheet
validator. A file's stations are composed as JSON text column by column
(``sheets.stations.station_objects``) and stored without a model each, because
the validator passed them; ``build_stations`` reads them through the models, and
a property test holds the composed texts to the models' own encoding. The rules:

* ``address.country``, and the country of ``cpo-id`` and of every connector's
  EVSE id: ISO 3166-1 alpha-2 (``ids.is_iso_country``), not merely two letters;
* ``cpo-id`` is the operator part of every connector's EVSE id
  (``DE*8PS`` for ``DE*8PS*E123``; compared without ``*`` and case);
* ``open-hour-notes`` times are ``HH:MM`` from ``00:00`` to ``24:00``;
* a station with ``is-open-24: true`` has no ``open-hour-notes``;
* the required texts (``id``, ``name``, ``street``, ``city``, ``zip``,
  ``phone``) are not empty, and every text is at most ``TEXT_LIMITS`` long.
  ``TEXT_LIMITS`` (in ``vocabulary``) is the one list of limits; ``sheets.rules`` uses it too.

Each broken rule is a ``ValidationError`` whose location names the field
(``describe_validation_error``: ``station.address.country: ...``); the sandbox
answers it with code 230.

``web``, not ``website``
------------------------
``station_post.rst`` lists the contact field as ``website``, but the page's
own request example sends ``"web": "www.example.com"``, and so do the clients
that already push to PlugSurfing. An example is what receivers are tested
against, so we send ``web``; on input (``decode_request``, hence the sandbox)
both ``web`` and ``website`` are accepted and read as ``web``. See
``docs/protocol-notes.md``.
"""

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import UserError
from .ids import EVSE_ID_PATTERN, OPERATOR_ID_PATTERN, evse_operator_id, is_iso_country, parse_operator_id
from .vocabulary import (
    CONNECTOR_POST_STATUS,
    STATION_POST,
    TEXT_LIMITS,
    TIME_PATTERN,
    ConnectorStatus,
    ConnectorType,
    Weekday,
)

__all__ = [
    "ConnectorType", "ConnectorStatus", "Weekday", "Address", "Contact", "Connector", "OpenHourNote",
    "Station", "StationPost", "ConnectorPostStatus", "Result", "ResultResponse",
    "ConnectorPostStatusResponse", "MESSAGE_TYPES", "encode", "station_post_body", "station_post_json",
    "connector_post_status_body",
    "decode_request", "ValidationError",
    "UnknownMessageType", "describe_validation_error", "TEXT_LIMITS",
]

_TIME = re.compile(rf"^(?:{TIME_PATTERN})$")  # the sheet's OPEN_HOURS_PATTERN is made of the same


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


def _text(path: str, *, required: bool = False) -> Any:
    """A string field limited to ``TEXT_LIMITS[path]`` characters, not empty when ``required``."""
    return Annotated[str, Field(min_length=1 if required else 0, max_length=TEXT_LIMITS[path])]


def _check_country(value: str, what: str) -> None:
    if not is_iso_country(value):
        raise ValueError(f"{what} {value!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE, AT, NL)")

# Enums arrive as their wire strings; strict mode would insist on enum instances.
ConnectorTypeField = Annotated[ConnectorType, Field(strict=False)]
WeekdayField = Annotated[Weekday, Field(strict=False)]
StatusField = Annotated[ConnectorStatus, Field(strict=False)]


class Address(_Message):
    street: _text("address.street", required=True)
    street_number: _text("address.street-number")  # may be empty: a square or a car park has no number
    city: _text("address.city", required=True)
    zip: _text("address.zip", required=True)
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        _check_country(value, "country")
        return value


class Contact(_Message):
    phone: _text("contact.phone", required=True)
    fax: _text("contact.fax") | None = None
    # The field list says "website", the example and existing clients send "web": we send web,
    # and read either (see the module docstring).
    web: _text("contact.web") | None = Field(default=None, validation_alias=AliasChoices("web", "website"))
    email: _text("contact.email") | None = None

    _blank = field_validator("fax", "web", "email", mode="before")(_blank_to_none)


class Connector(_Message):
    id: Annotated[str, Field(pattern=rf"^{EVSE_ID_PATTERN}$")]
    name: ConnectorTypeField
    speed: Annotated[float, Field(gt=0)]

    @field_validator("id")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        _check_country(value[:2].upper(), f"EVSE id {value!r}: its country")
        return value


class OpenHourNote(_Message):
    times: Annotated[list[str], Field(min_length=2, max_length=2)]
    days: Annotated[list[WeekdayField], Field(min_length=2, max_length=2)]

    @field_validator("times")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        for time in value:
            if not _TIME.match(time):
                raise ValueError(f"time {time!r} is not HH:MM between 00:00 and 24:00")
        return value


class Station(_Message):
    id: _text("id", required=True)
    name: _text("name", required=True)
    description: _text("description") | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    address: Address
    contact: Contact
    # The protocol calls it cpo-id; it is the EVSE operator id (DE*8PS), never our database's CPO key.
    operator_id: Annotated[str, Field(alias="cpo-id", pattern=rf"^{OPERATOR_ID_PATTERN}$")]
    is_open_24: bool
    connectors: Annotated[list[Connector], Field(min_length=1)]
    open_hour_notes: list[OpenHourNote] | None = None
    notes: _text("notes") | None = None
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

    @field_validator("operator_id")
    @classmethod
    def _iso_operator(cls, value: str) -> str:
        _check_country(value[:2].upper(), f"cpo-id {value!r}: its country")
        return value

    @field_validator("connectors")
    @classmethod
    def _operator_of_connectors(cls, value: list[Connector], info: ValidationInfo) -> list[Connector]:
        # cpo-id is validated before connectors (field order); absent here when it was refused itself.
        if "operator_id" in info.data:
            operator = str(parse_operator_id(info.data["operator_id"]))
            for connector in value:
                part = evse_operator_id(connector.id)
                if part != operator:
                    raise ValueError(f"connector {connector.id!r}: its operator part {part} differs from "
                                     f"cpo-id {info.data['operator_id']!r}; every connector's EVSE id starts with "
                                     "the station's cpo-id")
        return value

    @field_validator("open_hour_notes", mode="before")
    @classmethod
    def _no_empty_list(cls, value: Any) -> Any:
        return None if value == [] else value

    @field_validator("open_hour_notes")
    @classmethod
    def _not_with_open_24(cls, value: list[OpenHourNote] | None, info: ValidationInfo) -> Any:
        if value and info.data.get("is_open_24") is True:
            raise ValueError("is-open-24 is true, so the station has no opening hours: leave open-hour-notes "
                             "out or set is-open-24 to false")
        return value

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

    type: Literal[STATION_POST] = Field(default=STATION_POST, exclude=True)


class ConnectorPostStatus(_Message):
    connector_id: NonEmpty
    status: StatusField
    partner_identifier: NonEmpty

    type: Literal[CONNECTOR_POST_STATUS] = Field(default=CONNECTOR_POST_STATUS, exclude=True)


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
    STATION_POST: StationPost,
    CONNECTOR_POST_STATUS: ConnectorPostStatus,
}


def canonical_sha256(value: Any) -> str:
    """The one hash of a JSON value: sorted keys, no spaces, UTF-8 (non-ASCII text as itself).

    Station objects, request bodies and connector signatures are all compared by it,
    so the same content hashes the same wherever it was computed.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# The one encoder of request bodies, from values already checked: the models (``encode``) and the hot paths
# (``sync.diff`` for every station-post, ``sync.status_ingest`` for every status) all build bodies here.
# The hot paths skip the models: a stored station was validated by them when it was imported, and a status
# by the ingest. Through the models, 50,000 station-post bodies took 2.2 s instead of 0.08 s and 100,000
# status bodies 0.35 s instead of 0.17 s (bench/bench_bodies.py); a 10,000-station full load spent 1.6 s
# instead of 1.1 s enqueuing (bench/bench_push.py, with sync.diff building through the models).


def station_post_body(station: dict[str, Any], partner_identifier: str) -> dict[str, Any]:
    """The request body of one station-post; ``station`` is a station object as ``Station.to_json`` gives it."""
    return {STATION_POST: {"station": station, "partner-identifier": partner_identifier}}


def station_post_json(station_json: str, partner_identifier: str) -> str:
    """``station_post_body`` encoded, from a station object already encoded (as the store keeps it), without
    decoding and encoding the station again. From a station stored compact (``store.db``, since migration
    0009) it is the text the client's own encoding gives; one stored earlier keeps its spacing, same JSON."""
    partner = json.dumps(partner_identifier, ensure_ascii=False)
    return f'{{"{STATION_POST}":{{"station":{station_json},"partner-identifier":{partner}}}}}'


def connector_post_status_body(connector_id: str, status: str, partner_identifier: str) -> dict[str, Any]:
    """The request body of one connector-post-status, keys in the spec example's order."""
    return {CONNECTOR_POST_STATUS: {"connector-id": connector_id, "partner-identifier": partner_identifier,
                                    "status": status}}


def encode(message: StationPost | ConnectorPostStatus) -> dict[str, Any]:
    """The request body of a message: its type is the single top-level key."""
    if isinstance(message, StationPost):
        return station_post_body(message.station.to_json(), message.partner_identifier)
    return connector_post_status_body(message.connector_id, message.status.value, message.partner_identifier)


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
