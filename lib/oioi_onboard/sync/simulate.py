"""Plausible random status changes for a demo: ``oioi-onboard simulate --cpo NAME --rate N``.

Changes go through ``record_statuses`` like any other source (source
"simulator"), so they are coalesced, held back and sent exactly like real ones.
The acting person must be allowed to change the CPO; one audit entry says what
the run did.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from threading import Event

from sqlmodel import select

from ..errors import NotFound, UserError
from ..store.auth import Actor, require_edit
from ..store.db import session_scope
from ..store.models import Connector, Station
from ..store.queries import audit, get_cpo
from ..store.station_list import listed
from ..wording import counted
from .status_ingest import record_statuses

# Where a connector usually goes next: mostly plugging in and out, now and then a fault or a reservation.
NEXT = {
    "Available": (("Occupied", 70), ("Reserved", 10), ("Offline", 12), ("Unknown", 8)),
    "Occupied": (("Available", 85), ("Offline", 10), ("Unknown", 5)),
    "Reserved": (("Occupied", 70), ("Available", 30)),
    "Offline": (("Available", 80), ("Unknown", 20)),
    "Unknown": (("Available", 70), ("Offline", 30)),
}


def next_status(current: str, rng: random.Random) -> str:
    choices = NEXT.get(current, NEXT["Unknown"])
    return rng.choices([status for status, _ in choices], weights=[weight for _, weight in choices])[0]


@dataclass
class SimulationResult:
    changes: int
    seconds: float
    refused: int


def _load_evses(actor: Actor, cpo_id: int, db_url: str | None) -> dict[str, str]:
    """EVSE id -> current status, for the CPO's live stations."""
    with session_scope(db_url) as session:
        require_edit(actor, get_cpo(session, actor=actor, cpo_id=cpo_id).id)
        rows = session.exec(
            select(Connector.evse_id, Connector.status).join(Station, Station.id == Connector.station_pk)
            .where(Connector.cpo_id == cpo_id, listed(session, [cpo_id]))
        ).all()
    return {evse_id: status for evse_id, status in rows}


def simulate(*, actor: Actor, cpo_id: int, rate: float, seconds: float | None = None, stop: Event | None = None,
             seed: int | None = None, tick: float = 0.2, db_url: str | None = None) -> SimulationResult:
    """Write about ``rate`` changes a second for ``seconds`` (or until ``stop`` is set)."""
    if rate <= 0:
        raise UserError(f"the rate must be above 0 changes a second, not {rate}")
    evses = _load_evses(actor, cpo_id, db_url)
    if not evses:
        raise NotFound("this CPO has no connectors yet: import its stations first")
    rng = random.Random(seed)
    names = sorted(evses)
    stop = stop or Event()
    started = time.monotonic()
    changes = refused = 0
    owed = 0.0
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if seconds is not None and elapsed >= seconds:
            break
        owed = rate * elapsed - changes
        count = int(owed)
        if count > 0:
            items = []
            for evse_id in rng.choices(names, k=count):
                evses[evse_id] = next_status(evses[evse_id], rng)
                items.append({"evse_id": evse_id, "status": evses[evse_id]})
            with session_scope(db_url) as session:
                results = record_statuses(session, actor=actor, cpo_id=cpo_id, items=items, source="simulator")
            changes += count
            refused += sum(1 for result in results if not result.ok)
        stop.wait(tick)
    result = SimulationResult(changes=changes, seconds=time.monotonic() - started, refused=refused)
    with session_scope(db_url) as session:
        audit(session, actor_name=actor.name, action="statuses simulated", cpo_id=cpo_id,
              detail=f"{counted(result.changes, 'change')} in {result.seconds:.0f} s, {result.refused} refused")
    return result
