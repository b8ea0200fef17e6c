"""OCPI 2.2.1 objects as we read and answer them: the response envelope, versions, credentials, Locations.

Tolerant of what we do not use: unknown fields are ignored, and fields we never read are not modelled
(a CPO's ``facilities`` or ``images`` cannot refuse its Location). Strict on what we use: types are not
coerced (a number is not a string, a string not a number), statuses and power types are the spec's
words, and coordinates are strings of the spec's pattern (``"51.047599"``, never ``51.047599``).

A connector's ``standard`` stays text: the mapping turns a standard OIOI has no plug for, or one OCPI
does not know, into an error naming the EVSE, which blocks only that station.

``DateTime`` is RFC 3339 text; one without a zone designator is UTC (types.asciidoc). It is read by
``untrusted.parse_utc``, as every timestamp from outside is.

The PATCH models hold the same fields, all optional but ``last_updated``, which every PATCH carries.

A Location pulled from an OCPI 2.1.1 peer is read in 2.2.1's shape (``location_from_211``).
"""

import re
from datetime import UTC, datetime
from enum import Enum, IntEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from ..untrusted import parse_utc

__all__ = [
    "LATITUDE_PATTERN", "LONGITUDE_PATTERN", "StatusCode", "EvseStatus", "PowerType", "InterfaceRole", "Role",
    "Envelope", "DisplayText", "GeoLocation", "BusinessDetails", "RegularHours", "ExceptionalPeriod", "Hours",
    "EnergyMix", "Connector", "EVSE", "Location", "ConnectorPatch", "EvsePatch", "LocationPatch", "Version",
    "Endpoint", "VersionDetails", "CredentialsRole", "Credentials", "location_from_211",
]

LATITUDE_PATTERN = r"-?[0-9]{1,2}\.[0-9]{5,7}"
LONGITUDE_PATTERN = r"-?[0-9]{1,3}\.[0-9]{5,7}"
_COORDINATE = {"latitude": re.compile(LATITUDE_PATTERN), "longitude": re.compile(LONGITUDE_PATTERN)}
_EXAMPLE = {"latitude": "51.047599", "longitude": "3.729944"}
_TIME = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$"


class StatusCode(IntEnum):
    """The envelope's status codes (status_codes.asciidoc); 1xxx success, 2xxx client, 3xxx server errors."""

    SUCCESS = 1000
    CLIENT_ERROR = 2000
    INVALID_PARAMETERS = 2001
    NOT_ENOUGH_INFORMATION = 2002
    UNKNOWN_LOCATION = 2003
    SERVER_ERROR = 3000
    UNABLE_TO_USE_CLIENT_API = 3001
    UNSUPPORTED_VERSION = 3002
    NO_MATCHING_ENDPOINTS = 3003


class EvseStatus(str, Enum):
    AVAILABLE = "AVAILABLE"
    BLOCKED = "BLOCKED"
    CHARGING = "CHARGING"
    INOPERATIVE = "INOPERATIVE"
    OUTOFORDER = "OUTOFORDER"
    PLANNED = "PLANNED"
    REMOVED = "REMOVED"
    RESERVED = "RESERVED"
    UNKNOWN = "UNKNOWN"


class PowerType(str, Enum):
    AC_1_PHASE = "AC_1_PHASE"
    AC_2_PHASE = "AC_2_PHASE"
    AC_2_PHASE_SPLIT = "AC_2_PHASE_SPLIT"
    AC_3_PHASE = "AC_3_PHASE"
    DC = "DC"


class InterfaceRole(str, Enum):
    SENDER = "SENDER"  # the owner of the data: the other side pulls from it
    RECEIVER = "RECEIVER"  # the owner pushes to it


class Role(str, Enum):
    CPO = "CPO"
    EMSP = "EMSP"
    HUB = "HUB"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


def _datetime(value: Any) -> datetime:
    # The one parser of timestamps from outside: no OverflowError for 0001-01-01T00:00:00+01:00.
    return parse_utc(value, what="DateTime")


def _none_is_empty(value: Any) -> Any:
    return [] if value is None else value


# Lax only for these: a DateTime arrives as text, an enum as its word; strict mode wants Python objects.
DateTime = Annotated[datetime, BeforeValidator(_datetime)]
StatusField = Annotated[EvseStatus, Field(strict=False)]
PowerTypeField = Annotated[PowerType, Field(strict=False)]
InterfaceRoleField = Annotated[InterfaceRole, Field(strict=False)]
RoleField = Annotated[Role, Field(strict=False)]


def _list(item: Any) -> Any:
    """A list field that may also arrive as null (meaning none)."""
    return Annotated[list[item], BeforeValidator(_none_is_empty)]


class OcpiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The object as OCPI sends it: optional fields left out, DateTimes as ``...Z``."""
        return self.model_dump(mode="json", exclude_none=True)


class Envelope(OcpiModel):
    """Every OCPI answer: ``data`` with a ``status_code`` (1000 is success) and the time it was made."""

    data: Any = None
    status_code: int
    status_message: str | None = None
    timestamp: DateTime | None = None  # the spec requires it; nothing we do depends on it

    @property
    def ok(self) -> bool:
        return self.status_code == StatusCode.SUCCESS

    @classmethod
    def answer(cls, data: Any = None, status_code: int = StatusCode.SUCCESS, status_message: str | None = None
               ) -> "Envelope":
        return cls(data=data, status_code=int(status_code), status_message=status_message,
                   timestamp=datetime.now(UTC).replace(microsecond=0))


class DisplayText(OcpiModel):
    language: str
    text: str


class GeoLocation(OcpiModel):
    latitude: str
    longitude: str

    @field_validator("latitude", "longitude", mode="before")
    @classmethod
    def _text(cls, value: Any, info) -> Any:  # noqa: ANN001
        if not isinstance(value, str):
            raise ValueError(f"{info.field_name} must be text such as \"{_EXAMPLE[info.field_name]}\" "
                             f"(OCPI coordinates are strings), not the number {value!r}")
        return value

    @field_validator("latitude", "longitude")
    @classmethod
    def _pattern(cls, value: str, info) -> str:  # noqa: ANN001
        name = info.field_name
        if not _COORDINATE[name].fullmatch(value):
            raise ValueError(f"{name} {value!r} is not of the form {_COORDINATE[name].pattern}: decimal degrees "
                             f"with a point and 5 to 7 decimals, such as \"{_EXAMPLE[name]}\"")
        return value


class BusinessDetails(OcpiModel):
    name: str
    website: str | None = None


class RegularHours(OcpiModel):
    weekday: Annotated[int, Field(ge=1, le=7)]  # 1 is Monday
    period_begin: Annotated[str, Field(pattern=_TIME)]
    period_end: Annotated[str, Field(pattern=_TIME)]


class ExceptionalPeriod(OcpiModel):
    period_begin: DateTime
    period_end: DateTime


class Hours(OcpiModel):
    twentyfourseven: bool
    regular_hours: _list(RegularHours) = []
    exceptional_openings: _list(ExceptionalPeriod) = []
    exceptional_closings: _list(ExceptionalPeriod) = []


class EnergyMix(OcpiModel):
    is_green_energy: bool


class Connector(OcpiModel):
    id: str
    standard: str  # ConnectorType; checked by the mapping, which names the EVSE
    power_type: PowerTypeField
    max_voltage: int  # line to neutral for AC_3_PHASE
    max_amperage: int
    max_electric_power: int | None = None  # W; wins over voltage x amperage
    last_updated: DateTime


class EVSE(OcpiModel):
    uid: str
    evse_id: str | None = None  # eMI3, optional in OCPI: OIOI's connector id
    status: StatusField
    connectors: Annotated[list[Connector], Field(min_length=1)]
    last_updated: DateTime


class Location(OcpiModel):
    country_code: Annotated[str, Field(min_length=2, max_length=2)]
    party_id: Annotated[str, Field(min_length=3, max_length=3)]
    id: Annotated[str, Field(min_length=1, max_length=36)]
    publish: bool
    name: str | None = None
    address: str  # one line: street and house number
    city: str
    postal_code: str | None = None
    country: str  # ISO 3166-1 alpha-3
    coordinates: GeoLocation
    evses: _list(EVSE) = []
    directions: _list(DisplayText) = []
    operator: BusinessDetails | None = None
    opening_times: Hours | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


class ConnectorPatch(OcpiModel):
    id: str | None = None
    standard: str | None = None
    power_type: PowerTypeField | None = None
    max_voltage: int | None = None
    max_amperage: int | None = None
    max_electric_power: int | None = None
    last_updated: DateTime


class EvsePatch(OcpiModel):
    uid: str | None = None
    evse_id: str | None = None
    status: StatusField | None = None
    connectors: list[Connector] | None = None
    last_updated: DateTime


class LocationPatch(OcpiModel):
    country_code: str | None = None
    party_id: str | None = None
    id: str | None = None
    publish: bool | None = None
    name: str | None = None
    address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    coordinates: GeoLocation | None = None
    evses: list[EVSE] | None = None
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    opening_times: Hours | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


class Version(OcpiModel):
    version: str  # "2.2.1", "2.1.1", ...
    url: str


class Endpoint(OcpiModel):
    identifier: str  # a module: "locations", "credentials", or a custom one
    role: InterfaceRoleField | None = None  # OCPI 2.1.1 has no roles
    url: str


class VersionDetails(OcpiModel):
    version: str
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]

    def endpoint(self, identifier: str, role: InterfaceRole | None = None) -> str | None:
        """The URL of a module's endpoint in ``role`` (any role for 2.1.1 details, which have none)."""
        for endpoint in self.endpoints:
            if endpoint.identifier == identifier and (role is None or endpoint.role in (role, None)):
                return endpoint.url
        return None


class CredentialsRole(OcpiModel):
    role: RoleField
    business_details: BusinessDetails
    party_id: Annotated[str, Field(min_length=3, max_length=3)]
    country_code: Annotated[str, Field(min_length=2, max_length=2)]


class Credentials(OcpiModel):
    token: Annotated[str, Field(min_length=1, max_length=64, repr=False)]  # a secret: never in a repr
    url: str  # the versions URL
    roles: Annotated[list[CredentialsRole], Field(min_length=1)]

    @field_validator("url")
    @classmethod
    def _no_user_in_url(cls, value: str) -> str:
        if "@" in urlsplit(value).netloc:
            raise ValueError("the versions URL must not hold a user name or password (user:password@): OCPI "
                             "authenticates with the token alone")
        return value


def _connector_from_211(connector: Any) -> Any:
    if not isinstance(connector, dict):
        return connector
    connector = dict(connector)
    for old, new in (("voltage", "max_voltage"), ("amperage", "max_amperage")):
        if new not in connector and old in connector:
            connector[new] = connector.pop(old)
    return connector


def location_from_211(raw: Any, *, country_code: str, party_id: str) -> Any:
    """An OCPI 2.1.1 Location in 2.2.1's shape: the party it was pulled from (2.1.1 Locations do not name
    it), published (2.1.1 lists only what may be shown), and its connectors' ``voltage`` and ``amperage``
    as ``max_voltage`` and ``max_amperage``. What is not a Location is left for the mapping to name."""
    if not isinstance(raw, dict):
        return raw
    location = {"country_code": country_code, "party_id": party_id, "publish": True, **raw}
    if isinstance(location.get("evses"), list):
        location["evses"] = [
            {**evse, "connectors": [_connector_from_211(c) for c in evse["connectors"]]}
            if isinstance(evse, dict) and isinstance(evse.get("connectors"), list) else evse
            for evse in location["evses"]
        ]
    return location
