"""The canonical spreadsheet: one row per connector, station columns repeated.

Every reader and mapping produces a DataFrame with these columns (strings as
read; validation parses them). ``ROW`` holds the row number as the user sees it
in their file (1-based, header counted) and survives every reshaping.
"""

from dataclasses import dataclass

ROW = "_row"


@dataclass(frozen=True)
class Column:
    name: str
    station_field: str | None  # the station-post path it fills, None for connector fields
    required: bool
    description: str
    example: str


STATION_COLUMNS = [
    Column("station_id", "id", True, "Globally unique station id; repeated on each connector row", "DE*8PS*S0001"),
    Column("station_name", "name", True, "Name shown to the EV driver", "Marktplatz"),
    Column("description", "description", False, "Longer description", "Two fast chargers behind the town hall"),
    Column("latitude", "latitude", True, "Decimal degrees, -90..90 (a decimal comma is fine)", "49.4875"),
    Column("longitude", "longitude", True, "Decimal degrees, -180..180", "8.4660"),
    Column("street", "address.street", True, "Street name", "Luisenring"),
    # Not required: OIOI's street-number is a string that may be empty, and places such as a square or a
    # car park have no number; a number left in the street is a plausibility warning instead.
    Column("street_number", "address.street-number", False, "House number, kept as text (empty if there is none)",
           "49a"),
    Column("city", "address.city", True, "City", "Mannheim"),
    Column("zip", "address.zip", True, "Postal code, kept as text", "68159"),
    Column("country", "address.country", True, "ISO 3166-1 alpha-2 code", "DE"),
    Column("phone", "contact.phone", True, "Hotline phone number", "+49 621 1234567"),
    Column("fax", "contact.fax", False, "Fax number", ""),
    Column("web", "contact.web", False, "Website", "https://example.com"),
    Column("email", "contact.email", False, "Contact e-mail", "service@example.com"),
    Column("cpo_id", "cpo-id", True, "Operator id of the station's CPO, registered to this CPO", "DE*8PS"),
    Column("is_open_24", "is-open-24", True, "Open 24 hours: yes/no", "yes"),
    Column("open_hours", "open-hour-notes", False, "Opening hours, e.g. 'Mo-Fr 07:30-19:00; Sa 09:00-15:00'", ""),
    Column("notes", "notes", False, "How to find the station", "Level -1, bay 12"),
    Column("is_reservable", "is-reservable", False, "yes/no", ""),
    Column("floor_level", "floor-level", False, "Floor, integer", ""),
    Column("is_free_charge", "is-free-charge", False, "yes/no", ""),
    Column("total_parking", "total-parking", False, "Parking spots, integer", ""),
    Column("is_green_power_available", "is-green-power-available", False, "yes/no", ""),
    Column("is_plugin_charge", "is-plugin-charge", False, "yes/no", ""),
    Column("is_roofed", "is-roofed", False, "yes/no", ""),
    Column("is_private", "is-private", False, "yes/no", ""),
]

CONNECTOR_COLUMNS = [
    Column("evse_id", None, True, "EVSE id, ISO form; one EVSE may have several connector types", "DE*8PS*E0001*1"),
    Column("connector_type", None, True, "One of the 19 OIOI connector names (aliases accepted)", "Type2"),
    Column("speed_kw", None, True, "Charging power in kW", "22"),
]

COLUMNS = STATION_COLUMNS + CONNECTOR_COLUMNS
NAMES = [c.name for c in COLUMNS]
REQUIRED = [c.name for c in COLUMNS if c.required]
STATION_NAMES = [c.name for c in STATION_COLUMNS]
BOOLEAN_NAMES = [c.name for c in STATION_COLUMNS if c.name.startswith("is_")]
