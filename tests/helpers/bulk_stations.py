"""Many valid stations stored fast, for the scale test and the rerun benchmark.

Spreadsheet import is tested elsewhere; here 10,000 or 25,000 stations go in
with one bulk insert per table, shaped exactly as an import stores them
(station-post ``station`` object as payload, its hash, one row per connector).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from oioi_onboard.oioi import messages
from oioi_onboard.oioi.ids import normalise_evse_id
from oioi_onboard.store.models import Connector, Cpo, ImportRecord, OperatorId, PartnerIdentifier, Station

CONNECTOR_TYPES = [t.value for t in messages.ConnectorType]
CITIES = [  # (city, zip, latitude, longitude)
    ("Mannheim", "68159", 49.4875, 8.4660), ("Berlin", "10117", 52.5200, 13.4050),
    ("Hamburg", "20095", 53.5511, 9.9937), ("München", "80331", 48.1374, 11.5755),
    ("Köln", "50667", 50.9375, 6.9603), ("Leipzig", "04109", 51.3397, 12.3731),
]


def _sha(value: Any) -> str:  # the same hash as sync.diff.json_sha256
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


def station_payload(n: int, *, operator_id: str = "DE*8PS", prefix: str = "S") -> dict[str, Any]:
    """The ``station`` object of station number ``n``: two EVSEs, three connectors, all valid OIOI."""
    city, zip_code, lat, lon = CITIES[n % len(CITIES)]
    # Spread the stations on a spiral around their city, so maps have something to show.
    angle, radius = n * 2.39996, 0.002 * math.sqrt(n / len(CITIES))
    evse = f"{operator_id}*E{prefix}{n:06d}"
    return {
        "id": f"{operator_id}*{prefix}{n:06d}",
        "name": f"{city} Ladepunkt {n}",
        "latitude": round(lat + radius * math.sin(angle), 6),
        "longitude": round(lon + radius * math.cos(angle), 6),
        "address": {"street": "Hauptstraße", "street-number": str(n % 300 + 1), "city": city, "zip": zip_code,
                    "country": "DE"},
        "contact": {"phone": "+49 621 1234567", "web": "https://example.com"},
        "cpo-id": operator_id,
        "is-open-24": True,
        "connectors": [
            {"id": f"{evse}*1", "name": CONNECTOR_TYPES[n % len(CONNECTOR_TYPES)], "speed": 22.0},
            {"id": f"{evse}*1", "name": "Schuko" if n % len(CONNECTOR_TYPES) != 3 else "Type2", "speed": 3.7},
            {"id": f"{evse}*2", "name": "Combo", "speed": 150.0},
        ],
        "deleted": False,
    }


def connectors_signature(payload: dict[str, Any]) -> str:
    pairs = sorted({(normalise_evse_id(c["id"]), c["name"]) for c in payload["connectors"]})
    return _sha(pairs)


def register_cpo(session: Session, *, name: str, operator_id: str, partner_identifier: str, endpoint: str,
                 api_key: str | None) -> int:
    """A CPO with one operator id and one partner identifier; returns its id."""
    from oioi_onboard.store.secrets import encrypt_api_key, last4

    cpo = Cpo(name=name, endpoint=endpoint, api_key_encrypted=encrypt_api_key(api_key) if api_key else None,
              api_key_last4=last4(api_key) if api_key else None)
    session.add(cpo)
    session.flush()
    session.add(OperatorId(cpo_id=cpo.id, operator_id=operator_id))
    session.add(PartnerIdentifier(cpo_id=cpo.id, partner_identifier=partner_identifier))
    session.flush()
    return cpo.id


def store_stations(session: Session, *, cpo_id: int, count: int, operator_id: str = "DE*8PS", prefix: str = "S",
                   batch: int = 5000) -> int:
    """Store ``count`` stations (three connectors each) under one import record; returns the import id."""
    messages.Station.model_validate(station_payload(0, operator_id=operator_id, prefix=prefix))  # shape check
    record = ImportRecord(cpo_id=cpo_id, user_name="bulk", file_name="bulk.csv", file_sha256="0" * 64,
                          rows=count * 3, stations=count, connectors=count * 3, stations_stored=count)
    session.add(record)
    session.flush()
    for start in range(0, count, batch):
        payloads = [station_payload(n, operator_id=operator_id, prefix=prefix)
                    for n in range(start, min(start + batch, count))]
        stations = [
            {"cpo_id": cpo_id, "station_id": p["id"], "name": p["name"], "latitude": p["latitude"],
             "longitude": p["longitude"], "city": p["address"]["city"], "cpo_operator_id": operator_id,
             "payload": p, "payload_sha256": _sha(p), "connectors_signature": connectors_signature(p),
             "import_id": record.id}
            for p in payloads
        ]
        pks = session.execute(insert(Station).returning(Station.id, sort_by_parameter_order=True), stations).scalars()
        connectors = [
            {"station_pk": pk, "cpo_id": cpo_id, "evse_id": c["id"], "evse_key": normalise_evse_id(c["id"]),
             "name": c["name"], "speed": c["speed"]}
            for pk, p in zip(pks, payloads) for c in p["connectors"]
        ]
        session.execute(insert(Connector), connectors)
    return record.id

