"""A local OIOI receiver to push against: the checks PlugSurfing makes, plus faults on demand.

``create_app`` returns a Starlette app; ``oioi-onboard sandbox`` serves it with uvicorn.
It is a test receiver for one machine, not a platform: bind it to a loopback
address. Provisioning and the partner list answer only loopback callers.
``routes`` holds the app and its request handling, ``state`` the SQLite state, and
``client`` the provisioning request the onboarding tool sends (``provision``).

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

1. fault injection (before any processing), one draw per request: every answer
   leaves ``latency_ms`` after its request arrived (the checks and storing below
   happen within that time, as on a platform whose answers take that long);
   with probability ``stall_rate`` no answer until the client gives up; with
   probability ``fail_rate`` HTTP 503, with probability ``throttle_rate`` HTTP
   429, both with ``Retry-After: <retry_after>`` (1 s unless set) and code 100;
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
The counters are kept in memory and written at most once a second (and when the sandbox stops), so a
kill -9 may lose the last second of counts, never a station or a status.

Inspection: ``GET /_sandbox/stations``, ``GET /_sandbox/stats``, ``GET /_sandbox/health``,
``GET /_sandbox/partners`` and ``GET /_sandbox/faults`` (loopback only).
In ``stats``, ``station-post.accepted`` includes repeats, and ``station_accepts``
counts, per station id, every accepted post *including* repeats: a pusher that
never sends an acknowledged station twice leaves every count at 1 (per change).
"""

from ..._surface import public_surface

# Loaded on first use: the store provisions CPOs through ``client`` in every ``cpo`` command, and
# importing ``routes`` with it would load Starlette and the message models for nothing.
__all__, __getattr__ = public_surface(__name__, modules=[], names={
    "routes": ["create_app", "check_faults", "OIOI_PATH", "MAX_BODY_BYTES"],
    "state": ["SandboxState"],
    "client": ["provision", "SandboxUnreachable", "SandboxRefused", "PartnerTaken"],
})
