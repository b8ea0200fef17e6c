"""Request bodies: the shared encoder of the hot paths against building each body through the message models.

``oioi.messages.station_post_body`` and ``connector_post_status_body`` build the bodies that a push
(``sync.diff``) and the status ingest (``sync.status_ingest``) queue; the models (``StationPost``,
``ConnectorPostStatus`` and ``encode``) validate first. Reported: the time to build 50,000 station-post
bodies and 100,000 status bodies each way, best of three, and the models' time as a ratio of the
encoder's; then a check that both ways give the same bytes as the client sends them.

Run: ``.venv/bin/python bench/bench_bodies.py [stations] [statuses]``.
"""

from __future__ import annotations

import json
import sys
import time

from oioi_onboard.oioi import messages
from oioi_onboard.oioi.vocabulary import CONNECTOR_POST_STATUS, STATION_POST, ConnectorStatus

STATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
STATUSES = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
PARTNER_ID = "bEnCh7Qw9LmZ2vK8sRb4"
REPEAT = 3


def station(n: int) -> dict:
    """A station object as the store holds it (what ``Station.to_json`` gave at the import): three connectors."""
    evse = f"DE*8PS*E{n:08d}"
    return messages.Station.model_validate({
        "id": f"DE*8PS*S{n:08d}", "name": f"Ladepunkt {n}", "latitude": 49.48 + n * 1e-6, "longitude": 8.46,
        "address": {"street": "Hauptstraße", "street-number": str(n % 300 + 1), "city": "Mannheim", "zip": "68159",
                    "country": "DE"},
        "contact": {"phone": "+49 621 1234567", "web": "https://example.com"},
        "cpo-id": "DE*8PS", "is-open-24": True,
        "connectors": [{"id": f"{evse}*1", "name": "Type2", "speed": 22.0},
                       {"id": f"{evse}*1", "name": "Schuko", "speed": 3.7},
                       {"id": f"{evse}*2", "name": "Combo", "speed": 150.0}],
    }).to_json()


def best_of(action, repeat: int = REPEAT) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def wire(body: dict) -> bytes:
    """The bytes ``OioiClient.send`` puts on the wire for a body."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def main() -> None:
    stations = [station(n) for n in range(STATIONS)]
    statuses = [(f"DE*8PS*E{n:08d}*1", list(ConnectorStatus)[n % 5].value) for n in range(STATUSES)]

    def stations_by_encoder():
        return [messages.station_post_body(s, PARTNER_ID) for s in stations]

    def stations_by_models():
        return [messages.encode(messages.StationPost(station=messages.Station.model_validate(s),
                                                     partner_identifier=PARTNER_ID)) for s in stations]

    def statuses_by_encoder():
        return [messages.connector_post_status_body(evse, status, PARTNER_ID) for evse, status in statuses]

    def statuses_by_models():
        return [messages.encode(messages.ConnectorPostStatus(connector_id=evse, status=status,
                                                             partner_identifier=PARTNER_ID))
                for evse, status in statuses]

    print(f"{'bodies':>28} {'encoder s':>10} {'models s':>9} {'models / encoder':>17}")
    for name, count, encoder, models in ((STATION_POST, STATIONS, stations_by_encoder, stations_by_models),
                                         (CONNECTOR_POST_STATUS, STATUSES, statuses_by_encoder, statuses_by_models)):
        fast, slow = best_of(encoder), best_of(models)
        print(f"{count:>7,} {name:>20} {fast:>10.3f} {slow:>9.3f} {slow / fast:>16.1f}x")
        same = all(wire(a) == wire(b) for a, b in zip(encoder()[:1000], models()[:1000], strict=True))
        print(f"{'':>28} same bytes both ways (first 1,000): {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
