"""Station objects (the station-post ``station``), in two layouts, each with the ids its tests name:

- ``station_payload(n)``: station ``{operator}*S{n:06d}`` on a spiral around one of six German cities,
  with one Type2 EVSE (``connectors=k``: k of them; ``mixed``: two EVSEs with three sockets);
- ``status_station(n)``: station ``{operator}*S{n:05d}`` in Berlin with two connectors whose EVSE ids
  ``evse(n, k)`` gives: a Type2 and a Combo on two EVSEs, or a Type2 and a Schuko sharing one.
"""

from __future__ import annotations

import math
from typing import Any

from ..oioi import messages

OPERATOR = "DE*8PS"  # the operator id of the sample files and the hostile corpus
CONNECTOR_TYPES = [t.value for t in messages.ConnectorType]
CITIES = [  # (city, zip, latitude, longitude)
    ("Mannheim", "68159", 49.4875, 8.4660), ("Berlin", "10117", 52.5200, 13.4050),
    ("Hamburg", "20095", 53.5511, 9.9937), ("München", "80331", 48.1374, 11.5755),
    ("Köln", "50667", 50.9375, 6.9603), ("Leipzig", "04109", 51.3397, 12.3731),
]



def _station(station_id: str, *, name: str, latitude: float, longitude: float, number: int, city: str,
             zip_code: str, contact: dict[str, str], operator_id: str, connectors: list[dict]) -> dict[str, Any]:
    return {
        "id": station_id,
        "name": name,
        "latitude": latitude,
        "longitude": longitude,
        "address": {"street": "Hauptstraße", "street-number": str(number), "city": city, "zip": zip_code,
                    "country": "DE"},
        "contact": contact,
        "cpo-id": operator_id,
        "is-open-24": True,
        "connectors": connectors,
    }


def station_payload(n: int, *, operator_id: str = OPERATOR, prefix: str = "S", connectors: int = 1,
                    mixed: bool = False, name: str | None = None) -> dict[str, Any]:
    """The station-post ``station`` object of station number ``n``, valid OIOI.

    Station id ``{operator_id}*{prefix}{n:06d}``, EVSE ids ``{operator_id}*E{prefix}{n:06d}*{k}``:
    ``connectors`` EVSEs with one Type2 each, or with ``mixed`` a real network's mix, two EVSEs and
    three connectors (EVSE 1 has two sockets whose types vary with ``n``, EVSE 2 a Combo). Stations lie
    on a spiral around one of six German cities, so maps have something to show; ``name`` replaces
    the generated name.
    """
    city, zip_code, lat, lon = CITIES[n % len(CITIES)]
    angle, radius = n * 2.39996, 0.002 * math.sqrt(n / len(CITIES))
    evse = f"{operator_id}*E{prefix}{n:06d}"
    if mixed:
        sockets = [
            {"id": f"{evse}*1", "name": CONNECTOR_TYPES[n % len(CONNECTOR_TYPES)], "speed": 22.0},
            {"id": f"{evse}*1", "name": "Schuko" if n % len(CONNECTOR_TYPES) != 3 else "Type2", "speed": 3.7},
            {"id": f"{evse}*2", "name": "Combo", "speed": 150.0},
        ]
    else:
        sockets = [{"id": f"{evse}*{k + 1}", "name": "Type2", "speed": 22.0} for k in range(connectors)]
    station = _station(
        f"{operator_id}*{prefix}{n:06d}", name=name or f"{city} Ladepunkt {n}",
        latitude=round(lat + radius * math.sin(angle), 6), longitude=round(lon + radius * math.cos(angle), 6),
        number=n % 300 + 1, city=city, zip_code=zip_code,
        contact={"phone": "+49 621 1234567", "web": "https://example.com"}, operator_id=operator_id,
        connectors=sockets)
    return {**station, "deleted": False}


def evse(n: int, k: int = 1, operator_id: str = OPERATOR) -> str:
    """The EVSE id of connector ``k`` of ``status_station(n)``."""
    return f"{operator_id}*E{n:05d}{k}"


def status_station(n: int, *, operator_id: str = OPERATOR, shared_evse: bool = False) -> dict[str, Any]:
    """Station ``n`` with two connectors: a Type2 and a Combo on EVSEs ``evse(n, 1)`` and ``evse(n, 2)``, or
    (``shared_evse``) a Type2 and a Schuko socket on ``evse(n, 1)``."""
    first, second = evse(n, 1, operator_id), evse(n, 2, operator_id)
    connectors = (
        [{"id": first, "name": "Type2", "speed": 22.0}, {"id": first, "name": "Schuko", "speed": 3.7}]
        if shared_evse else
        [{"id": first, "name": "Type2", "speed": 22.0}, {"id": second, "name": "Combo", "speed": 50.0}]
    )
    return _station(f"{operator_id}*S{n:05d}", name=f"Station {n}", latitude=52.5 + n * 0.001,
                    longitude=13.4 + n * 0.001, number=n, city="Berlin", zip_code="10117",
                    contact={"phone": "+49 30 1234567"}, operator_id=operator_id, connectors=connectors)
