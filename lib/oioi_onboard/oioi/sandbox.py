"""A local OIOI receiver to push against: the checks PlugSurfing makes, plus faults on demand.

``create_app`` returns a Starlette app; ``oioi-onboard sandbox`` serves it with uvicorn.
It is a test receiver for one machine, not a platform: bind it to a loopback
address. Provisioning and the partner list answer only loopback callers.

Who may push: API keys and partner identifiers given at start-up (``--api-key``,
``--partner-id``; every start-up key may act for every start-up partner
identifier), plus those provisioned at run time with

    POST /_sandbox/partners  {"api_key": "...", "partner_identifiers": ["..."]}

-> HTTP 200 ``{"partner_identifiers": [...], "added": [...], "moved": [...], "already": [...]}``;
400 for a malformed body or a partner identifier that is too easy to guess;
403 for a caller that is not on loopback; 409 (nothing changed) when a partner
identifier belongs to another API key. One key may act for several partner
identifiers (the spec says so); a partner identifier belongs to one key. An
optional ``"previous_api_key"`` moves partner identifiers held by that key to the
new one: replacing a CPO's key proves ownership with the old key. Provisioning
adds, it never removes. Provisioned keys are kept as SHA-256 hashes in the
SQLite state (they survive a restart) and are never logged nor echoed.
``GET /_sandbox/partners`` lists the partner identifiers (never keys).

Faults, at start-up (``--fail-rate``, ``--stall-rate``, ``--throttle-rate``,
``--retry-after``) and at run time, without a restart (loopback callers only):

    POST /_sandbox/faults  {"fail_rate": 1}          an outage starts
    POST /_sandbox/faults  {"fail_rate": 0}          and ends

-> HTTP 200 with the settings now in force, ``{"fail_rate": ..., "stall_rate": ...,
"throttle_rate": ..., "retry_after": ...}``; keys left out keep their value. 400
for an unknown key, a rate outside 0..1, rates adding up to more than 1 or a
``retry_after`` outside 0..3600 (nothing changes then); 403 for a caller not on
loopback. ``GET /_sandbox/faults`` shows them. They live in memory: a restart
goes back to the command's options.

What it checks, in this order, for ``POST /api/v4/request``:

1. fault injection (before any processing), one draw per request: ``latency_ms``
   of delay on every request; with probability ``stall_rate`` no answer until
   the client gives up; with probability ``fail_rate`` HTTP 503, with
   probability ``throttle_rate`` HTTP 429, both with ``Retry-After:
   <retry_after>`` (1 s unless set) and code 100;
2. ``Authorization: key=...`` -> HTTP 401, code 210;
3. ``Content-Type: application/json`` -> HTTP 400, code 230;
4. a body over ``MAX_BODY_BYTES`` (1 MiB; by its Content-Length or as read) ->
   HTTP 413, code 230, naming the body;
5. UTF-8 JSON and the message's shape and rules (``messages``: ISO countries,
   cpo-id matching the EVSE ids, times 00:00-24:00, is-open-24 without
   open-hour-notes, text limits ...) -> HTTP 400, code 230, naming the field;
6. partner identifier unknown, or not one this API key may act for -> HTTP 400, code 211;
7. the message itself:

   station-post
     * a station id pushed by another partner -> HTTP 403, code 220;
     * other connectors (ids or types) for an existing station id -> HTTP 400,
       code 230: the connectors of an existing station may not change;
     * an EVSE id held by another live station at other coordinates -> HTTP 400, code 322;
       at the same coordinates -> HTTP 400, code 230 (another partner: 220);
     * ``deleted: true`` soft-deletes (deleted stations free their EVSE ids);
     * an identical re-post of the stored station is accepted and counted as a repeat.

   connector-post-status
     * no live connector with this EVSE id -> HTTP 404, code 181;
     * only connectors of another partner's stations -> HTTP 403, code 220;
     * otherwise every connector of this partner sharing the EVSE id gets the status.

Success is HTTP 200 ``{"result": {"code": 0, "message": "Success."}}``.

State lives in SQLite, so it survives a restart with the same database file.
Every check and write of one request runs without an ``await`` in between, so
concurrent requests cannot interleave inside it; each write is one short
transaction (WAL, ``synchronous=OFF``), which keeps the event loop free.

Inspection: ``GET /_sandbox/stations``, ``GET /_sandbox/stats``, ``GET /_sandbox/health``,
``GET /_sandbox/partners`` and ``GET /_sandbox/faults`` (loopback only).
In ``stats``, ``station-post.accepted`` includes repeats, and ``station_accepts``
counts, per station id, every accepted post *including* repeats: a pusher that
never sends an acknowledged station twice leaves every count at 1 (per change).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import random
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import codes, ids, messages
from .retry import RETRY_AFTER_MAX
from .vocabulary import CONNECTOR_POST_STATUS, STATION_POST

OIOI_PATH = "/api/v4/request"

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

# The largest request body read: one station is a few kB even with every text at its limit
# (vocabulary.TEXT_LIMITS), so 1 MiB leaves room and still stops a runaway field.
MAX_BODY_BYTES = 1024 * 1024
# A body over the limit is still read (and dropped) up to this size, so that the client, still
# sending, reads the 413 instead of a reset connection; beyond it the connection is cut.
_DRAIN_BYTES = 16 * MAX_BODY_BYTES

FAULT_RATES = ("fail_rate", "stall_rate", "throttle_rate")


class Refusal(Exception):
    """A request the sandbox answers with an OIOI error code."""

    def __init__(self, http_status: int, code: int, message: str):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _result(code: int, message: str, http_status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"result": {"code": code, "message": message}}, status_code=http_status, headers=headers)


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
        # partner identifier -> SHA-256 of the API key that may act for it (provisioned ones only).
        self.grants: dict[str, str] = dict(self.db.execute("SELECT partner_identifier, key_sha256 FROM partner_grant"))
        self.granted_keys: set[str] = set(self.grants.values())

    def close(self) -> None:
        self.save_counts()
        self.db.close()

    def count(self, *names: str) -> None:
        """Add one to each counter; saved with the request's write, or by ``save_counts``."""
        for name in names:
            self.counters[name] = self.counters.get(name, 0) + 1
            self._unsaved[name] = self._unsaved.get(name, 0) + 1

    def _write_counts(self) -> None:
        if self._unsaved:
            self.db.executemany(
                "INSERT INTO counter(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                [(name, n, n) for name, n in self._unsaved.items()],
            )
            self._unsaved.clear()

    def save_counts(self) -> None:
        """Write the counters not yet saved, in one transaction (one per request at most)."""
        if self._unsaved:
            self.db.execute("BEGIN")
            self._write_counts()
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
        payload = json.dumps(station.to_json(), sort_keys=True, separators=(",", ":"))
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


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


_PROVISION_FIELDS = {"api_key", "partner_identifiers", "previous_api_key"}


def _provision_request(body: Any) -> tuple[str, list[str], str | None]:
    """(api key, partner identifiers, previous key) of a provisioning body; ValueError says what is wrong.

    Messages never quote a key: whatever was sent as one stays out of the answer.
    """
    if not isinstance(body, dict):
        raise ValueError('the body must be a JSON object: {"api_key": "...", "partner_identifiers": ["..."]}')
    unknown = sorted(set(body) - _PROVISION_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}; expected api_key, partner_identifiers"
                         " and optionally previous_api_key")
    keys = {}
    for field in ("api_key", "previous_api_key"):
        value = body.get(field)
        if value is None and field == "previous_api_key":
            keys[field] = None
            continue
        if not isinstance(value, str) or not value.strip() or value != value.strip() \
                or any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError(f"{field} must be a non-empty string without spaces or line breaks")
        keys[field] = value
    partners = body.get("partner_identifiers")
    if not isinstance(partners, list) or not partners or not all(isinstance(p, str) for p in partners):
        raise ValueError("partner_identifiers must be a non-empty list of strings")
    for partner in partners:
        ids.check_partner_identifier(partner)  # IdError is a ValueError with a message for the user
    return keys["api_key"], list(dict.fromkeys(partners)), keys["previous_api_key"]


def check_faults(faults: dict[str, float]) -> None:
    """Raise ValueError unless every rate is within 0..1, they add up to at most 1 and
    ``retry_after`` is whole seconds within 0..RETRY_AFTER_MAX."""
    for name in FAULT_RATES:
        rate = faults[name]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be a number between 0 and 1, not {rate!r}")
    total = sum(faults[name] for name in FAULT_RATES)
    if total > 1.0 + 1e-9:
        raise ValueError("fail_rate, stall_rate and throttle_rate are shares of the same requests: together at "
                         f"most 1, not {total:g}")
    retry_after = faults["retry_after"]
    if isinstance(retry_after, bool) or not isinstance(retry_after, int) or not 0 <= retry_after <= RETRY_AFTER_MAX:
        raise ValueError(f"retry_after must be whole seconds between 0 and {RETRY_AFTER_MAX}, not {retry_after!r}")


def _fault_change(body: Any, current: dict[str, Any]) -> dict[str, Any]:
    """The fault settings after applying a ``POST /_sandbox/faults`` body; ValueError says what is wrong."""
    known = (*FAULT_RATES, "retry_after")
    if not isinstance(body, dict) or not body:
        raise ValueError('the body must be a JSON object with any of ' + ", ".join(known)
                         + ', e.g. {"fail_rate": 1}')
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}; expected any of {', '.join(known)}")
    changed = {**current, **body}
    check_faults(changed)
    return {name: (float(value) if name in FAULT_RATES else value) for name, value in changed.items()}


class _BodyTooLarge(Exception):
    def __init__(self, size: int, exact: bool):
        super().__init__(size)
        self.size = size
        self.exact = exact  # False: reading stopped at _DRAIN_BYTES, the body is larger still

    def message(self) -> str:
        size = f"{self.size:,}" if self.exact else f"more than {self.size:,}"
        return (f"The body has {size} bytes; a request may have at most {MAX_BODY_BYTES:,} bytes (1 MiB). "
                "Send one station per station-post and keep texts within their limits.")


async def _read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, at most ``limit`` bytes; raises _BodyTooLarge (after draining a little more) beyond it."""
    length = request.headers.get("content-length", "")
    declared = int(length) if length.isdigit() else None
    if declared is not None and declared > _DRAIN_BYTES:
        raise _BodyTooLarge(declared, exact=True)  # not read at all: the connection is cut after the answer
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > _DRAIN_BYTES:
            raise _BodyTooLarge(size, exact=False)
        else:
            chunks.clear()  # over the limit: counted and dropped
    if size > limit:
        raise _BodyTooLarge(size, exact=True)
    return b"".join(chunks)


def _parse_api_key(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition("=")
    return value.strip() if scheme.strip().lower() == "key" and value.strip() else None


def create_app(
    *,
    db_path: str | Path,
    api_keys: Iterable[str],
    partner_ids: Iterable[str],
    latency_ms: float = 0,
    fail_rate: float = 0.0,
    stall_rate: float = 0.0,
    throttle_rate: float = 0.0,
    retry_after: int = 1,
    seed: int | None = None,
    stall_seconds: float = 3600,
) -> Starlette:
    """The sandbox receiver as an ASGI app (see the module docstring for its rules).

    ``api_keys`` and ``partner_ids`` may be empty: CPOs are then provisioned through
    ``POST /_sandbox/partners``. The fault settings are where they start; ``POST
    /_sandbox/faults`` changes them while the app runs.
    """
    keys = [k for k in api_keys if k]
    partners = frozenset(partner_ids)
    for partner in partners:
        ids.check_partner_identifier(partner)
    # What POST /_sandbox/faults changes; read by every request when it arrives.
    faults: dict[str, Any] = {"fail_rate": float(fail_rate), "stall_rate": float(stall_rate),
                              "throttle_rate": float(throttle_rate), "retry_after": retry_after}
    check_faults(faults)
    rng = random.Random(seed)
    state = SandboxState(db_path)
    latency = max(0.0, latency_ms / 1000)

    def is_startup_key(candidate: str | None) -> bool:
        # Constant-time comparison against every key: no timing hint about which is close.
        found = False
        for key in keys:
            found |= candidate is not None and secrets.compare_digest(candidate.encode(), key.encode())
        return found

    def check_partner(partner: str, *, startup_key: bool, key_hash: str | None) -> None:
        if startup_key and partner in partners:
            return
        if key_hash is not None and state.grants.get(partner) == key_hash:
            return
        if partner in partners or partner in state.grants:
            raise Refusal(400, codes.INVALID_PARTNER_IDENTIFIER,
                          f"partner identifier ending in {partner[-4:]!r} does not belong to this API key")
        raise Refusal(400, codes.INVALID_PARTNER_IDENTIFIER,
                      f"partner identifier ending in {partner[-4:]!r} is not known here")

    async def stall(request: Request) -> Response:
        # Hold the request open, without answering, until the client hangs up.
        state.count("faults.stalled")
        state.save_counts()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + stall_seconds
        while loop.time() < deadline and not await request.is_disconnected():
            await asyncio.sleep(0.05)
        return Response(status_code=504)

    async def oioi_request(request: Request) -> Response:
        try:
            return await answer(request)
        finally:
            state.save_counts()

    async def answer(request: Request) -> Response:
        if latency:
            await asyncio.sleep(latency)
        stall_rate, fail_rate, throttle_rate = faults["stall_rate"], faults["fail_rate"], faults["throttle_rate"]
        if stall_rate or fail_rate or throttle_rate:
            draw = rng.random()
            if draw < stall_rate:
                with contextlib.suppress(_BodyTooLarge):
                    await _read_body(request)
                return await stall(request)
            retry = {"Retry-After": str(faults["retry_after"])}
            if draw < stall_rate + fail_rate:
                state.count("faults.failed")
                return _result(codes.SYSTEM_ERROR, "The sandbox is failing on purpose; retry later.", 503,
                               headers=retry)
            if draw < stall_rate + fail_rate + throttle_rate:
                state.count("faults.throttled")
                return _result(codes.SYSTEM_ERROR, "Too many requests (the sandbox throttles on purpose); "
                               f"retry after {faults['retry_after']} s.", 429, headers=retry)
        state.count("requests.received")
        api_key = _parse_api_key(request.headers.get("authorization"))
        startup_key = is_startup_key(api_key)
        key_hash = key_sha256(api_key) if api_key else None
        if not startup_key and key_hash not in state.granted_keys:
            state.count("requests.unauthorized")
            return _result(codes.INVALID_API_KEY, "Invalid API key: send the header 'Authorization: key=<API key>'.",
                           401)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            state.count("requests.malformed")
            return _result(codes.INVALID_REQUEST_FORMAT,
                           f"Content-Type must be application/json, not {content_type or 'missing'!r}", 400)
        try:
            raw = await _read_body(request)
        except _BodyTooLarge as too_large:
            state.count("requests.too_large")
            return _result(codes.INVALID_REQUEST_FORMAT, too_large.message(), 413)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            state.count("requests.malformed")
            return _result(codes.INVALID_REQUEST_FORMAT, f"The body is not UTF-8 JSON: {error}", 400)
        kind = next(iter(body), None) if isinstance(body, dict) and len(body) == 1 else None
        if kind in messages.MESSAGE_TYPES:
            state.count(f"{kind}.received")
        try:
            message = messages.decode_request(body)
        except messages.UnknownMessageType as error:
            state.count("requests.malformed")
            return _result(codes.INVALID_REQUEST_FORMAT, str(error), 400)
        except ValidationError as error:
            state.count(f"{kind}.rejected")
            return _result(codes.INVALID_REQUEST_FORMAT,
                           messages.describe_validation_error(error, prefix=f"{kind}."), 400)
        try:
            check_partner(message.partner_identifier, startup_key=startup_key, key_hash=key_hash)
            if isinstance(message, messages.StationPost):
                state.post_station(message.station, message.partner_identifier)
            else:
                state.post_connector_status(message.connector_id, message.status.value, message.partner_identifier)
        except Refusal as refusal:
            state.count(f"{message.type}.rejected")
            return _result(refusal.code, refusal.message, refusal.http_status)
        return _result(codes.SUCCESS, "Success.")

    async def control_body(request: Request, what: str) -> Any:
        """The JSON body of a control request (provisioning, faults), or the answer refusing it."""
        if not _is_loopback(request):
            return JSONResponse({"error": f"{what} answer loopback callers only"}, status_code=403)
        try:
            return json.loads((await _read_body(request)).decode("utf-8"))
        except _BodyTooLarge as too_large:
            return JSONResponse({"error": too_large.message()}, status_code=413)
        except (UnicodeDecodeError, ValueError):
            return JSONResponse({"error": "the body is not UTF-8 JSON"}, status_code=400)

    async def provision(request: Request) -> Response:
        body = await control_body(request, "provisioning requests")
        if isinstance(body, Response):
            return body
        try:
            api_key, wanted, previous = _provision_request(body)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        try:
            outcome = state.provision(key_sha256(api_key), wanted,
                                      previous_key_hash=key_sha256(previous) if previous else None,
                                      reserved=partners if not is_startup_key(api_key) else frozenset())
        except ProvisionConflict as conflict:
            return JSONResponse(
                {"error": "partner identifier(s) already belong to another API key: "
                          + ", ".join(conflict.partner_identifiers),
                 "partner_identifiers": conflict.partner_identifiers},
                status_code=409,
            )
        return JSONResponse({"partner_identifiers": wanted, **outcome})

    async def set_faults(request: Request) -> Response:
        body = await control_body(request, "fault controls")
        if isinstance(body, Response):
            return body
        try:
            changed = _fault_change(body, faults)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        faults.update(changed)
        return JSONResponse(dict(faults))

    async def show_faults(request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"error": "fault controls answer loopback callers only"}, status_code=403)
        return JSONResponse(dict(faults))

    async def partner_list(request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"error": "the partner list answers loopback callers only"}, status_code=403)
        startup = [{"partner_identifier": p, "provisioned_at": None} for p in sorted(partners)]
        return JSONResponse(startup + state.partners())

    async def stations(request: Request) -> Response:
        return JSONResponse(state.stations())

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.close()

    app = Starlette(
        routes=[
            Route(OIOI_PATH, oioi_request, methods=["POST"]),
            Route("/_sandbox/partners", provision, methods=["POST"]),
            Route("/_sandbox/partners", partner_list, methods=["GET"]),
            Route("/_sandbox/faults", set_faults, methods=["POST"]),
            Route("/_sandbox/faults", show_faults, methods=["GET"]),
            Route("/_sandbox/stations", stations, methods=["GET"]),
            Route("/_sandbox/stats", stats, methods=["GET"]),
            Route("/_sandbox/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = state
    app.state.faults = faults
    return app
