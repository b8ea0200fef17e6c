"""The simulator's demo network: N Belgian or Dutch Locations made from a seed, and how they change.

The same seed gives the same network on every start: cities with real coordinates, streets, one to
four EVSEs per Location with Type 2 sockets, Combo and CHAdeMO chargers, Schuko sockets and Type 1
cables; every seventh Location has a PLANNED EVSE, and the fourth Location is not published
(``publish: false``). Ids are the CPO's: Location ``LOC00001``, EVSE uid ``LOC00001-1``, EVSE id
``BE*OCS*E000011`` (country code, party id, then the Location and EVSE numbers).

A change (``change``) does what a CPO's back end does all day: an EVSE's status moves, or a
Location's name is corrected; the EVSE's and the Location's ``last_updated`` move to now, as the
spec has a child's update bump its parent's. ``remove`` takes Locations out of the list, as a
decommissioned site leaves it: only a full pull can notice that.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ...untrusted import parse_utc
from ..client import ocpi_datetime

__all__ = ["Network", "Change", "CITIES", "STATUS_CYCLE"]

# (city, postal code, latitude, longitude, streets)
CITIES = {
    "BE": [
        ("Gent", "9000", 51.05434, 3.71742, ["Korenmarkt", "Veldstraat", "Kouter", "Sint-Pietersnieuwstraat"]),
        ("Brussel", "1000", 50.85034, 4.35171, ["Rue Neuve", "Boulevard Anspach", "Rue de la Loi", "Rue Haute"]),
        ("Antwerpen", "2000", 51.21945, 4.40246, ["Meir", "Groenplaats", "Italiëlei", "Kammenstraat"]),
        ("Leuven", "3000", 50.87959, 4.70093, ["Bondgenotenlaan", "Naamsestraat", "Tiensestraat", "Diestsestraat"]),
        ("Brugge", "8000", 51.20892, 3.22424, ["Steenstraat", "Langestraat", "Zuidzandstraat", "Ezelstraat"]),
        ("Liège", "4000", 50.63256, 5.57966, ["Rue Léopold", "Boulevard d'Avroy", "Rue Saint-Gilles", "Quai de Rome"]),
        ("Namur", "5000", 50.46738, 4.87198, ["Rue de Fer", "Avenue de la Gare", "Rue de l'Ange", "Rue Godefroid"]),
        ("Hasselt", "3500", 50.93069, 5.33248, ["Grote Markt", "Demerstraat", "Kapelstraat", "Koningin Astridlaan"]),
    ],
    "NL": [
        ("Amsterdam", "1012 JS", 52.37311, 4.89277, ["Damrak", "Rokin", "Kalverstraat", "Nieuwezijds Voorburgwal"]),
        ("Utrecht", "3511 AX", 52.09073, 5.12142, ["Oudegracht", "Lange Viestraat", "Vredenburg", "Mariaplaats"]),
        ("Rotterdam", "3011 AA", 51.92250, 4.47917, ["Coolsingel", "Lijnbaan", "Weena", "Blaak"]),
        ("Den Haag", "2511 CV", 52.07667, 4.29861, ["Spui", "Grote Marktstraat", "Lange Voorhout", "Plein"]),
        ("Eindhoven", "5611 AZ", 51.44164, 5.46972, ["Stratumseind", "Vestdijk", "Markt", "Kleine Berg"]),
        ("Groningen", "9711 LV", 53.21917, 6.56667, ["Herestraat", "Vismarkt", "Oude Ebbingestraat", "Brugstraat"]),
    ],
}
_COUNTRY = {"BE": "BEL", "NL": "NLD"}
_TIME_ZONE = {"BE": "Europe/Brussels", "NL": "Europe/Amsterdam"}
_OPERATOR = {"BE": "Demo Laadnet België", "NL": "Demo Laadnet Nederland"}

# EVSE kinds: connectors as (standard, format, power type, volts, amperes, watts or None)
_KINDS = [
    ("ac22", [("IEC_62196_T2", "SOCKET", "AC_3_PHASE", 230, 32, None)]),
    ("ac11", [("IEC_62196_T2", "SOCKET", "AC_3_PHASE", 230, 16, None)]),
    ("dc150", [("IEC_62196_T2_COMBO", "CABLE", "DC", 920, 400, 150000),
               ("CHADEMO", "CABLE", "DC", 500, 125, 50000)]),
    ("dc50", [("IEC_62196_T2_COMBO", "CABLE", "DC", 500, 125, 50000)]),
    ("ac_schuko", [("IEC_62196_T2", "SOCKET", "AC_3_PHASE", 230, 32, None),
                   ("DOMESTIC_F", "SOCKET", "AC_1_PHASE", 230, 16, None)]),
    ("ac_t1", [("IEC_62196_T1", "CABLE", "AC_1_PHASE", 230, 32, None)]),
]
_WEIGHTS = [40, 15, 12, 10, 15, 8]
# Where an EVSE's status goes next, as a charge point's day goes.
STATUS_CYCLE = {
    "AVAILABLE": ["CHARGING", "CHARGING", "CHARGING", "BLOCKED", "RESERVED", "OUTOFORDER"],
    "CHARGING": ["AVAILABLE", "AVAILABLE", "AVAILABLE", "BLOCKED"],
    "BLOCKED": ["AVAILABLE"],
    "RESERVED": ["CHARGING", "AVAILABLE"],
    "OUTOFORDER": ["AVAILABLE", "INOPERATIVE"],
    "INOPERATIVE": ["AVAILABLE"],
    "UNKNOWN": ["AVAILABLE"],
}
NOT_PUBLISHED_INDEX = 4  # the Location that is not published (1-based)
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # the generated Locations' last_updated, one minute apart


@dataclass(frozen=True)
class Change:
    """One change made to the network: an EVSE's new status, or a Location's new name."""

    location_id: str
    evse_uid: str | None
    status: str | None
    last_updated: str
    static: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"location_id": self.location_id, "evse_uid": self.evse_uid, "status": self.status,
                "last_updated": self.last_updated, "static": self.static}


def _connector(number: int, kind: tuple, stamp: str) -> dict[str, Any]:
    standard, form, power_type, volts, amperes, watts = kind
    connector = {"id": str(number), "standard": standard, "format": form, "power_type": power_type,
                 "max_voltage": volts, "max_amperage": amperes, "last_updated": stamp}
    if watts is not None:
        connector["max_electric_power"] = watts
    return connector


def _location(index: int, rng: random.Random, country: str, country_code: str, party_id: str) -> dict[str, Any]:
    city, postal_code, latitude, longitude, streets = CITIES[country][index % len(CITIES[country])]
    stamp = ocpi_datetime(START + timedelta(minutes=index))
    location_id = f"LOC{index:05d}"
    evses = []
    for number in range(1, rng.choice([1, 2, 2, 2, 3, 4]) + 1):
        _, connectors = rng.choices(_KINDS, weights=_WEIGHTS)[0]
        planned = index % 7 == 0 and number == 1
        status = "PLANNED" if planned else rng.choice(["AVAILABLE"] * 6 + ["CHARGING"] * 3 + ["OUTOFORDER"])
        evses.append({
            "uid": f"{location_id}-{number}",
            "evse_id": f"{country_code}*{party_id}*E{index:05d}{number}",
            "status": status,
            "connectors": [_connector(n, kind, stamp) for n, kind in enumerate(connectors, start=1)],
            "last_updated": stamp,
        })
    hours = {"twentyfourseven": True} if index % 3 else {
        "twentyfourseven": False,
        "regular_hours": [{"weekday": day, "period_begin": "07:00", "period_end": "22:00"} for day in range(1, 7)],
    }
    return {
        "country_code": country_code,
        "party_id": party_id,
        "id": location_id,
        "publish": index != NOT_PUBLISHED_INDEX,
        "name": f"{city} {rng.choice(streets)}",
        "address": f"{rng.choice(streets)} {rng.randint(1, 180)}",
        "city": city,
        "postal_code": postal_code,
        "country": _COUNTRY[country],
        "coordinates": {"latitude": f"{latitude + rng.uniform(-0.03, 0.03):.6f}",
                        "longitude": f"{longitude + rng.uniform(-0.04, 0.04):.6f}"},
        "parking_type": rng.choice(["ON_STREET", "PARKING_LOT", "PARKING_GARAGE"]),
        "evses": evses,
        "operator": {"name": _OPERATOR[country], "website": "https://laadnet.example.com"},
        "opening_times": hours,
        "time_zone": _TIME_ZONE[country],
        "last_updated": stamp,
    }


class Network:
    """The CPO's Locations as its back end holds them, in the order they were created."""

    def __init__(self, *, size: int = 40, seed: int = 1, country: str = "BE", country_code: str | None = None,
                 party_id: str = "OCS"):
        if country not in CITIES:
            raise ValueError(f"country {country!r}: the demo network is Belgian (BE) or Dutch (NL)")
        if size < 0:
            raise ValueError("the network needs 0 Locations or more")
        self.country_code = (country_code or country).upper()
        self.party_id = party_id.upper()
        rng = random.Random(seed)
        self.locations = [_location(i, rng, country, self.country_code, self.party_id) for i in range(1, size + 1)]
        self._updated = [parse_utc(loc["last_updated"]) for loc in self.locations]
        self._by_id = {loc["id"]: i for i, loc in enumerate(self.locations)}
        self.rng = random.Random(seed + 1)  # the changes' own sequence

    def __len__(self) -> int:
        return len(self.locations)

    def select(self, *, date_from: datetime | None = None, date_to: datetime | None = None) -> list[int]:
        """Positions of the Locations whose last_updated is in [date_from, date_to), in creation order."""
        return [i for i, updated in enumerate(self._updated)
                if (date_from is None or updated >= date_from) and (date_to is None or updated < date_to)]

    def location(self, location_id: str) -> dict[str, Any] | None:
        index = self._by_id.get(location_id)
        return None if index is None else self.locations[index]

    def snapshot(self, index: int) -> dict[str, Any]:
        """A copy to send: later changes must not show in an answer already being written."""
        return copy.deepcopy(self.locations[index])

    def _touch(self, index: int, now: datetime) -> str:
        stamp = ocpi_datetime(now)
        self.locations[index]["last_updated"] = stamp
        self._updated[index] = parse_utc(stamp)
        return stamp

    def remove(self, count: int) -> list[str]:
        """Take the newest ``count`` Locations out of the list, as a back end does with decommissioned ones."""
        removed = [location["id"] for location in self.locations[len(self.locations) - count:]] if count > 0 else []
        del self.locations[len(self.locations) - len(removed):]
        del self._updated[len(self._updated) - len(removed):]
        for location_id in removed:
            del self._by_id[location_id]
        return removed

    def change(self, *, static: bool = False, now: datetime | None = None) -> Change | None:
        """Change one Location now: an EVSE's status (its next in ``STATUS_CYCLE``), or its name with ``static``."""
        now = now or datetime.now(UTC)
        candidates = [i for i, loc in enumerate(self.locations) if loc["publish"] and
                      any(evse["status"] in STATUS_CYCLE for evse in loc["evses"])]
        if not candidates:
            return None
        index = self.rng.choice(candidates)
        location = self.locations[index]
        if static:
            base = location["name"].split(" (")[0]
            location["name"] = f"{base} ({self.rng.choice(['renovated', 'moved entrance', 'new sign'])})"
            return Change(location["id"], None, None, self._touch(index, now), static=True)
        evse = self.rng.choice([e for e in location["evses"] if e["status"] in STATUS_CYCLE])
        evse["status"] = self.rng.choice(STATUS_CYCLE[evse["status"]])
        stamp = self._touch(index, now)
        evse["last_updated"] = stamp
        return Change(location["id"], evse["uid"], evse["status"], stamp)
