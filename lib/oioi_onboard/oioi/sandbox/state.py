"""The sandbox's state in SQLite: stations, their connectors, the counters and the provisioned partners.

Its methods never ``await``: the routes call them from the event loop, one request's checks and writes
at a time (see ``oioi.sandbox``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import codes, ids, messages
from ..vocabulary import CONNECTOR_POST_STATUS, STATION_POST

__all__ = ["SandboxState", "Refusal", "ProvisionConflict", "key_sha256"]

# Counters are kept in memory and written at most this often (and on close): writing three counter rows with
# every request cost the sandbox more than storing the station did.
COUNTS_EVERY_S = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS station (
    station_id TEXT PRIMARY KEY,
    partner_identifier TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    connector_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    accepts INTEGER NOT NULL DEFAULT 0,
    repeats INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS connector (
    station_id TEXT NOT NULL REFERENCES station(station_id),
    evse_key TEXT NOT NULL,
    evse_id TEXT NOT NULL,
    name TEXT NOT NULL,
    speed REAL NOT NULL,
    status TEXT,
    status_time TEXT,
    PRIMARY KEY (station_id, evse_key, name)
);
CREATE INDEX IF NOT EXISTS connector_evse_key ON connector(evse_key);
CREATE TABLE IF NOT EXISTS counter (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS partner_grant (
    partner_identifier TEXT PRIMARY KEY,
    key_sha256 TEXT NOT NULL,
    provisioned_at TEXT NOT NULL
);
"""

_COUNTERS = (
    f"{STATION_POST}.received", f"{STATION_POST}.accepted", f"{STATION_POST}.rejected", f"{STATION_POST}.repeats",
    f"{CONNECTOR_POST_STATUS}.received", f"{CONNECTOR_POST_STATUS}.accepted", f"{CONNECTOR_POST_STATUS}.rejected",
    "requests.received", "requests.unauthorized", "requests.malformed",
    "requests.too_large", "faults.failed", "faults.stalled", "faults.throttled",
)


class Refusal(Exception):
    """A request the sandbox answers with an OIOI error code."""

    def __init__(self, http_status: int, code: int, message: str):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def key_sha256(api_key: str) -> str:
    """What the sandbox keeps of a provisioned API key."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class ProvisionConflict(Exception):
    """Partner identifiers that already belong to another API key; nothing was changed."""

    def __init__(self, partner_identifiers: list[str]):
        super().__init__(", ".join(partner_identifiers))
        self.partner_identifiers = partner_identifiers


def _connector_key(station: messages.Station) -> str:
    """The identity of a station's connectors: sorted (EVSE id, type) pairs."""
    pairs = sorted({(ids.normalise_evse_id(c.id), c.name.value) for c in station.connectors})
    return json.dumps(pairs, separators=(",", ":"))


class SandboxState:
    """The receiver's database: stations, their connectors and the counters."""

    def __init__(self, db_path: str | Path):
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        # One connection, used only from the event loop's thread.
        self.db = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.executescript(_SCHEMA)
        self.db.executemany("INSERT OR IGNORE INTO counter(name, value) VALUES (?, 0)", [(n,) for n in _COUNTERS])
        self.counters: dict[str, int] = dict(self.db.execute("SELECT name, value FROM counter"))
        self._unsaved: dict[str, int] = {}
        self._counts_written_at = time.monotonic()
        # partner identifier -> SHA-256 of the API key that may act for it (provisioned ones only).
        self.grants: dict[str, str] = dict(self.db.execute("SELECT partner_identifier, key_sha256 FROM partner_grant"))
        self.granted_keys: set[str] = set(self.grants.values())

    def close(self) -> None:
        self.save_counts(always=True)
        self.db.close()

    def count(self, *names: str) -> None:
        """Add one to each counter, in memory; written by the next write that is due, or by ``save_counts``."""
        for name in names:
            self.counters[name] = self.counters.get(name, 0) + 1
            self._unsaved[name] = self._unsaved.get(name, 0) + 1

    def _counts_due(self, always: bool) -> bool:
        return bool(self._unsaved) and (always or time.monotonic() - self._counts_written_at >= COUNTS_EVERY_S)

    def _write_counts(self, *, always: bool = False) -> None:
        """Inside a transaction: the counters not yet written, when ``COUNTS_EVERY_S`` has passed (or always)."""
        if self._counts_due(always):
            self.db.executemany(
                "INSERT INTO counter(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                [(name, n, n) for name, n in self._unsaved.items()],
            )
            self._unsaved.clear()
            self._counts_written_at = time.monotonic()

    def save_counts(self, *, always: bool = False) -> None:
        """Write the counters not yet written, in a transaction of their own, if due (or ``always``)."""
        if self._counts_due(always):
            self.db.execute("BEGIN")
            self._write_counts(always=True)
            self.db.execute("COMMIT")

    # -- provisioning ---------------------------------------------------------------------

    def provision(self, key_hash: str, partner_identifiers: list[str], *, previous_key_hash: str | None,
                  reserved: frozenset[str] = frozenset()) -> dict[str, list[str]]:
        """Let the key act for these partner identifiers; raises ProvisionConflict (and changes nothing)
        when one belongs to another key. ``reserved`` are the start-up partner identifiers: never given away."""
        added, moved, already, taken = [], [], [], []
        for partner in partner_identifiers:
            holder = self.grants.get(partner)
            if holder == key_hash:
                already.append(partner)
            elif partner in reserved:
                taken.append(partner)
            elif holder is None:
                added.append(partner)
            elif previous_key_hash is not None and holder == previous_key_hash:
                moved.append(partner)
            else:
                taken.append(partner)
        if taken:
            raise ProvisionConflict(taken)
        if added or moved:
            now = _now()
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO partner_grant(partner_identifier, key_sha256, provisioned_at) VALUES (?, ?, ?)"
                " ON CONFLICT(partner_identifier) DO UPDATE SET key_sha256 = excluded.key_sha256,"
                " provisioned_at = excluded.provisioned_at",
                [(partner, key_hash, now) for partner in added + moved],
            )
            self.db.execute("COMMIT")
            for partner in added + moved:
                self.grants[partner] = key_hash
            self.granted_keys = set(self.grants.values())
        return {"added": added, "moved": moved, "already": already}

    def partners(self) -> list[dict[str, Any]]:
        return [{"partner_identifier": partner, "provisioned_at": at}
                for partner, at in self.db.execute(
                    "SELECT partner_identifier, provisioned_at FROM partner_grant ORDER BY rowid")]

    # -- station-post ---------------------------------------------------------------------

    def post_station(self, station: messages.Station, partner_identifier: str) -> str:
        """Store a station; returns "accepted" or "repeat", raises Refusal."""
        # Compared with the stored text to find an identical re-post: pydantic's own encoder, in field order.
        payload = station.model_dump_json(by_alias=True, exclude_none=True)
        connector_key = _connector_key(station)
        row = self.db.execute(
            "SELECT partner_identifier, deleted, connector_key, payload FROM station WHERE station_id = ?",
            (station.id,),
        ).fetchone()
        if row is not None:
            owner, _deleted, stored_key, stored_payload = row
            if owner != partner_identifier:
                raise Refusal(403, codes.NOT_ALLOWED, f"station {station.id!r} was pushed by another partner")
            if stored_payload == payload:
                self.db.execute("BEGIN")
                self.db.execute(
                    "UPDATE station SET accepts = accepts + 1, repeats = repeats + 1 WHERE station_id = ?",
                    (station.id,),
                )
                self.count(f"{STATION_POST}.accepted", f"{STATION_POST}.repeats")
                self._write_counts()
                self.db.execute("COMMIT")
                return "repeat"
            # A delete may carry whatever connectors; any other change must keep them.
            if not station.deleted and stored_key != connector_key:
                raise Refusal(
                    400, codes.INVALID_REQUEST_FORMAT,
                    f"station {station.id!r}: the connectors of an existing station may not change "
                    "(neither their ids nor their types); soft-delete it (deleted: true) and push a new station id",
                )
        if not station.deleted:
            self._check_evse_ids(station, partner_identifier)

        self.db.execute("BEGIN")
        try:
            if row is None:
                self.db.execute(
                    "INSERT INTO station(station_id, partner_identifier, deleted, latitude, longitude,"
                    " connector_key, payload, accepts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
                    (station.id, partner_identifier, int(station.deleted), station.latitude, station.longitude,
                     connector_key, payload, _now()),
                )
                self.db.executemany(
                    "INSERT OR IGNORE INTO connector(station_id, evse_key, evse_id, name, speed)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(station.id, ids.normalise_evse_id(c.id), c.id, c.name.value, c.speed)
                     for c in station.connectors],
                )
            else:
                # Connectors are unchanged (or this is a delete): keep their rows and statuses.
                self.db.execute(
                    "UPDATE station SET deleted = ?, latitude = ?, longitude = ?, payload = ?,"
                    " accepts = accepts + 1, updated_at = ? WHERE station_id = ?",
                    (int(station.deleted), station.latitude, station.longitude, payload, _now(), station.id),
                )
            self.count(f"{STATION_POST}.accepted")
            self._write_counts()
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return "accepted"

    def _check_evse_ids(self, station: messages.Station, partner_identifier: str) -> None:
        keys = sorted({ids.normalise_evse_id(c.id) for c in station.connectors})
        marks = ",".join("?" * len(keys))
        clashes = self.db.execute(
            f"SELECT c.evse_id, s.station_id, s.partner_identifier, s.latitude, s.longitude"
            f" FROM connector c JOIN station s ON s.station_id = c.station_id"
            f" WHERE c.evse_key IN ({marks}) AND s.deleted = 0 AND s.station_id != ?",
            (*keys, station.id),
        ).fetchall()
        for evse_id, other_id, owner, latitude, longitude in clashes:
            if (latitude, longitude) != (station.latitude, station.longitude):
                raise Refusal(
                    400, codes.EVSE_OTHER_COORDINATES,
                    f"EVSE id {evse_id!r} already exists at other coordinates ({latitude}, {longitude})"
                    + (f" in station {other_id!r}" if owner == partner_identifier else " (another partner's)"),
                )
        for evse_id, other_id, owner, _lat, _lon in clashes:
            if owner != partner_identifier:
                raise Refusal(403, codes.NOT_ALLOWED, f"EVSE id {evse_id!r} belongs to another partner's station")
            raise Refusal(
                400, codes.INVALID_REQUEST_FORMAT,
                f"EVSE id {evse_id!r} is already used by station {other_id!r}; EVSE ids are globally unique",
            )

    # -- connector-post-status ------------------------------------------------------------

    def post_connector_status(self, connector_id: str, status: str, partner_identifier: str) -> int:
        """Set the status of every connector with this EVSE id; returns how many, raises Refusal."""
        key = ids.normalise_evse_id(connector_id)
        rows = self.db.execute(
            "SELECT c.rowid, s.partner_identifier FROM connector c JOIN station s ON s.station_id = c.station_id"
            " WHERE c.evse_key = ? AND s.deleted = 0",
            (key,),
        ).fetchall()
        if not rows:
            raise Refusal(404, codes.EVSE_NOT_FOUND, f"no connector with EVSE id {connector_id!r}")
        mine = [(rowid,) for rowid, owner in rows if owner == partner_identifier]
        if not mine:
            raise Refusal(403, codes.NOT_ALLOWED,
                          f"connector {connector_id!r} belongs to a station of another partner")
        now = _now()
        self.db.execute("BEGIN")
        self.db.executemany("UPDATE connector SET status = ?, status_time = ? WHERE rowid = ?",
                            [(status, now, rowid) for (rowid,) in mine])
        self.count(f"{CONNECTOR_POST_STATUS}.accepted")
        self._write_counts()
        self.db.execute("COMMIT")
        return len(mine)

    # -- inspection -----------------------------------------------------------------------

    def stations(self) -> list[dict[str, Any]]:
        connectors: dict[str, list[dict[str, Any]]] = {}
        for station_id, evse_id, name, speed, status, status_time in self.db.execute(
            "SELECT station_id, evse_id, name, speed, status, status_time FROM connector ORDER BY rowid"
        ):
            connectors.setdefault(station_id, []).append(
                {"id": evse_id, "name": name, "speed": speed, "status": status, "status_time": status_time}
            )
        return [
            {
                "station_id": station_id,
                "partner_identifier": owner,
                "deleted": bool(deleted),
                "accepts": accepts,
                "repeats": repeats,
                "updated_at": updated_at,
                "station": json.loads(payload),
                "connectors": connectors.get(station_id, []),
            }
            for station_id, owner, deleted, payload, accepts, repeats, updated_at in self.db.execute(
                "SELECT station_id, partner_identifier, deleted, payload, accepts, repeats, updated_at"
                " FROM station ORDER BY rowid"
            )
        ]

    def stats(self) -> dict[str, Any]:
        grouped: dict[str, Any] = {}
        for name, value in sorted(self.counters.items()):
            group, _, field = name.partition(".")
            grouped.setdefault(group, {})[field] = value
        grouped["station_accepts"] = dict(self.db.execute("SELECT station_id, accepts FROM station ORDER BY rowid"))
        grouped["stations"] = {
            "total": sum(1 for _ in grouped["station_accepts"]),
            "live": self.db.execute("SELECT count(*) FROM station WHERE deleted = 0").fetchone()[0],
        }
        return grouped
