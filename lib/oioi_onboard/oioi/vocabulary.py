"""The protocol's fixed vocabulary: message types, connector types, statuses, weekdays and text limits.

Kept apart from the message models (``messages``) so the sheet checks can use
it without importing pydantic: ``oioi-onboard validate`` starts faster.
"""

from enum import Enum

__all__ = ["STATION_POST", "CONNECTOR_POST_STATUS", "OUTBOX_KINDS", "TEXT_LIMITS", "TIME_PATTERN", "ConnectorType",
           "ConnectorStatus", "STATUSES", "Weekday"]

# The message types: each is the single top-level key of its request body, and the outbox's ``kind``.
STATION_POST = "station-post"
CONNECTOR_POST_STATUS = "connector-post-status"
OUTBOX_KINDS = (STATION_POST, CONNECTOR_POST_STATUS)  # the requests we send

# An open-hour-notes time: 00:00 to 23:59, and 24:00 as the end of a day; never 24:30 or 25:00.
# Digits as [0-9], not \d: the sheet checks run it in pyarrow (RE2).
TIME_PATTERN = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00"

# OIOI names no limits. These catch mapping mistakes (a description mapped onto the name) and
# keep texts readable in apps; keyed by the field's path in a station-post's station object.
# The sheet validator checks the same limits (sheets.rules.TEXT_LIMITS is made from this), and so
# do the message models.
TEXT_LIMITS: dict[str, int] = {
    "id": 100,
    "name": 100,
    "description": 1000,
    "notes": 1000,
    "address.street": 200,
    "address.street-number": 20,
    "address.city": 100,
    "address.zip": 20,
    "contact.phone": 40,
    "contact.fax": 40,
    "contact.web": 500,
    "contact.email": 254,
}


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


# The statuses by name, in the spec's order: what a status column holds and a status choice offers.
STATUSES = [status.value for status in ConnectorStatus]


class Weekday(str, Enum):
    MO = "Mo"
    TU = "Tu"
    WE = "We"
    TH = "Th"
    FR = "Fr"
    SA = "Sa"
    SU = "Su"
