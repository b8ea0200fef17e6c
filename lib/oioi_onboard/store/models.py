"""Every table of the dashboard's own database, side by side.

Schema changes go through an alembic revision in ``store/migrations``.
Secrets never sit here in clear text: ``Cpo.api_key_encrypted`` and
``Cpo.ocpi_token_encrypted`` hold Fernet tokens, ``IngestToken.token_sha256`` and
``OcpiToken.token_sha256`` hashes.
"""

from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    # Aware: sqlmodel's datetime columns refuse naive values and return aware UTC ones.
    return datetime.now(UTC)


class Role(str, Enum):
    ADMIN = "admin"
    PARTNER_MANAGER = "partner_manager"  # every CPO
    CPO_STAFF = "cpo_staff"  # only the CPOs assigned to them
    VIEWER = "viewer"  # the live map only


class Stage(str, Enum):
    REGISTERED = "registered"
    STATIONS_VALIDATED = "stations_validated"
    FULL_LOAD_PUSHED = "full_load_pushed"
    STATUSES_LIVE = "statuses_live"


# --- step 1: CPOs, people, audit -------------------------------------------------


class Cpo(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    endpoint: str  # "sandbox", "staging", "production" or a custom URL
    api_key_encrypted: str | None = None
    api_key_last4: str | None = None
    stage: Stage = Field(default=Stage.REGISTERED)
    active: bool = True
    concurrency: int = 16  # parallel station-posts for this CPO's queue
    # Set when the endpoint refused the CPO's set-up (API key 401/210, partner identifier 211, not
    # allowed 220/403): the queue waits for a fix and one resume.
    paused_reason: str | None = None
    # A fingerprint of the set-up (endpoint, API key, partner identifiers) the endpoint refused: once it
    # differs, someone changed the set-up and the queue resumes by itself.
    paused_setup: str | None = None
    # Since when every request to the endpoint failed with a transient error (transport, timeout, 5xx,
    # "later"); None while it answers. The worker then sends one probe at a time and resumes by itself.
    unreachable_since: datetime | None = None
    unreachable_reason: str | None = None  # the last failure, in words; never a secret
    # Values for template fields the CPO's files may lack (hotline phone, country, ...): they fill
    # empty cells on every import, shown as "from the CPO's defaults". {field: value}; None is none.
    defaults: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # The last connection test; cleared when the API key, partner identifiers or endpoint change,
    # so an old verdict ("the API key was rejected") never outlives its cause.
    connection_checked_at: datetime | None = None
    connection_ok: bool | None = None
    connection_message: str | None = None  # never a secret
    # On the embedded sandbox: why it does not know this CPO's key and partner identifiers yet
    # (unreachable, refused); None once provisioned, and for every other endpoint.
    sandbox_pending: str | None = None
    # The replaced API key (a Fernet token) until the sandbox has moved the partner identifiers it
    # held to the new key: the sandbox lets only the old key give them away.
    sandbox_previous_key_encrypted: str | None = None
    # The CPO's own OCPI back end, pulled for its Locations (``ocpi.client``, ``workflows.ocpi``): its
    # versions URL and credentials token (a Fernet token, like the API key; only the last 4 are shown).
    ocpi_versions_url: str | None = None
    ocpi_token_encrypted: str | None = None
    ocpi_token_last4: str | None = None
    ocpi_token_plain: bool = False  # the peer takes the token unencoded (learnt from a 401 to the Base64 form)
    ocpi_pull_minutes: int = 15  # the worker pulls what changed this often, and everything once a day
    # Start of the last successful pull: the next pull asks for what changed since (date_from).
    ocpi_last_pull_started_at: datetime | None = None
    ocpi_last_full_pull_at: datetime | None = None
    ocpi_last_pull_message: str | None = None  # what the last pull brought or why it failed; never a secret
    # Which worker pulls the CPO now, and until when (``store.ocpi_connection.take_pull_lease``): two workers
    # never pull one CPO at once; a worker that died leaves a lease that simply runs out.
    ocpi_pull_lease_holder: str | None = None
    ocpi_pull_lease_until: datetime | None = None
    # The push running for this CPO now (``sync.queue_control.take_push_lock``): its process
    # (``host-pid-xxxx``), who started it and when, and until when it counts as alive (renewed while it
    # runs; a holder killed on this host is seen dead at once, elsewhere when this runs out).
    push_lock_holder: str | None = None
    push_lock_by: str | None = None
    push_lock_since: datetime | None = None
    push_lock_until: datetime | None = None


class OperatorId(SQLModel, table=True):
    """An EVSE operator id (``DE*8PS``), registered to exactly one CPO."""

    __tablename__ = "operator_id"
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    operator_id: str = Field(unique=True)  # canonical form CC*XXX


class PartnerIdentifier(SQLModel, table=True):
    __tablename__ = "partner_identifier"
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    partner_identifier: str = Field(unique=True)


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    role: Role
    password_hash: str | None = None  # None for OIDC users
    email: str | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class UserCpo(SQLModel, table=True):
    """Which CPOs a CPO-staff user may see and change."""

    __tablename__ = "user_cpo"
    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", primary_key=True)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    user_name: str
    action: str
    cpo_id: int | None = Field(default=None, index=True)
    detail: str = ""  # never a secret


# --- step 2a: stations as imported ---------------------------------------------------


class ImportRecord(SQLModel, table=True):
    __tablename__ = "import_record"
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    user_name: str
    at: datetime = Field(default_factory=utcnow)
    file_name: str
    file_sha256: str
    rows: int = 0
    stations: int = 0
    connectors: int = 0
    stations_stored: int = 0
    errors: int = 0
    warnings: int = 0
    full_upload: bool = True  # stations missing from a full upload are proposed for deletion
    # A full upload of exactly the stations of the one before, all unchanged: their rows keep that import's
    # id (``same_as``, the first of a run of such repeats) instead of being rewritten with this one's.
    same_as: int | None = None
    # A push's inputs (the file, its options, the code) with the state of the registry right after it was
    # stored (``store.stations.repeat_key``): the same push again, with nothing changed since, repeats this
    # import without reading the file.
    input_sha256: str | None = Field(default=None, index=True)

    @property
    def station_import_id(self) -> int | None:
        """The import id the stations of this import carry."""
        return self.same_as or self.id


class MappingProfile(SQLModel, table=True):
    __tablename__ = "mapping_profile"
    __table_args__ = (UniqueConstraint("cpo_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int | None = Field(default=None, foreign_key="cpo.id", index=True)
    name: str
    mapping: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow)


class Station(SQLModel, table=True):
    """A station as we hold it; ``payload`` is its station-post ``station`` object."""

    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    station_id: str = Field(unique=True)  # OIOI station ids are globally unique
    name: str
    latitude: float
    longitude: float
    city: str = ""
    cpo_operator_id: str  # the station's cpo-id
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    payload_sha256: str
    connectors_signature: str  # hash of (EVSE id, type) pairs: the spec forbids changing them
    # The file rows this payload was built from ("<sheets.stations.station_sources>/<payload_sha256>"): a
    # re-import with the same rows keeps the station without building it; any other writer of the payload
    # changes payload_sha256, which no longer matches.
    source_hash: str | None = None
    # A replacement (<id>-N, pushed when the connectors of <id> changed): <id>. Never in a file, it stays on the
    # CPO's list while <id> is (store.station_list.missing_from_upload).
    replaces: str | None = None
    deleted: bool = False  # removed here; a deletion is pushed as "deleted": true
    import_id: int | None = Field(default=None, foreign_key="import_record.id")
    updated_at: datetime = Field(default_factory=utcnow, index=True)  # indexed: the newest is part of a repeat's key
    # What the endpoint last acknowledged for this station.
    acked_sha256: str | None = None
    acked_connectors_signature: str | None = None
    acked_deleted: bool = False
    acked_at: datetime | None = None


class Connector(SQLModel, table=True):
    __table_args__ = (Index("ix_connector_evse", "evse_id"),)
    id: int | None = Field(default=None, primary_key=True)
    station_pk: int = Field(foreign_key="station.id", index=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    evse_id: str  # connectors of one EVSE share this id and one status
    evse_key: str = Field(index=True)  # normalised (upper case, no '*') for uniqueness checks
    name: str  # connector type
    speed: float
    status: str = "Unknown"
    status_at: datetime | None = None
    status_source: str | None = None  # where the current status came from (ocpi, api, file, ui ...)


# --- steps 2b and 3: pushing ---------------------------------------------------------


class OutboxState(str, Enum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # claimed by a worker
    ACKED = "acked"  # the endpoint answered success
    FAILED = "failed"  # permanent error: a to-do for the user
    SUPERSEDED = "superseded"  # a newer request for the same key replaced it
    HELD = "held"  # waiting for something else (e.g. the station's ack)


# Requests not settled yet: queued, being sent, or waiting for another's ack.
OPEN_STATES = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.HELD)


class PushRun(SQLModel, table=True):
    __tablename__ = "push_run"
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    user_name: str
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    dry_run: bool = False
    total: int = 0
    new: int = 0
    changed: int = 0
    deleted: int = 0
    replaced: int = 0  # connectors changed: soft-delete + push under a new station id
    partner_identifier: str | None = None
    # A dry run keeps what would have been sent: {kind: [station ids]}.
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class Outbox(SQLModel, table=True):
    """One intended OIOI request. Workers claim rows; nothing lives only in memory."""

    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        # "Is any row of this run still open?" after every result batch: an index lookup, not a run scan.
        Index("ix_outbox_run_state", "run_id", "state"),
        # A claim's first open row of a kind (sync.outbox.claim): min(id) per state and kind, a lookup.
        Index("ix_outbox_open", "state", "kind", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    run_id: int | None = Field(default=None, foreign_key="push_run.id", index=True)
    kind: str  # the message type: vocabulary.STATION_POST or CONNECTOR_POST_STATUS
    key: str = Field(index=True)  # station id or EVSE id
    change: str = ""  # new, changed, deleted, replaced, status
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # the full request body
    payload_sha256: str
    state: OutboxState = Field(default=OutboxState.PENDING)
    attempts: int = 0
    result_code: int | None = None
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    sent_at: datetime | None = None
    acked_at: datetime | None = None
    # A HELD row waits for this row's ack (a replacement station waits for the soft-delete of the old id).
    depends_on: int | None = Field(default=None, index=True)
    # station-post: the connectors signature of the station object sent, copied to Station on ack.
    connectors_signature: str | None = None


# --- step 3: statuses ----------------------------------------------------------------


class StatusEvent(SQLModel, table=True):
    """Every status change that came in, whatever its source."""

    __tablename__ = "status_event"
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    evse_id: str = Field(index=True)
    status: str
    observed_at: datetime  # when the change happened at the charge point
    received_at: datetime = Field(default_factory=utcnow, index=True)
    source: str  # ui, file, api, simulator
    delivery: str = "pending"  # pending, delivered, superseded, held, stale, rejected
    reason: str | None = None
    # Indexed: every worker result and every coalesced status updates the events of one outbox row.
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id", index=True)


class IngestToken(SQLModel, table=True):
    """A bearer token for a CPO's back end to post statuses; only its hash is kept."""

    __tablename__ = "ingest_token"
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    token_sha256: str = Field(unique=True)
    label: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


# --- the OCPI receiver: what a CPO's back end pushes to us -----------------------------


class OcpiToken(SQLModel, table=True):
    """A credentials token with which a CPO's back end (CSMS) talks to our OCPI receiver; only its hash is kept.

    ``kind`` "registration" is CREDENTIALS_TOKEN_A, printed once by ``cpo ocpi-token`` and good for one
    credentials handshake; "credentials" is CREDENTIALS_TOKEN_C, handed over in that handshake and good
    until the back end updates its credentials or unregisters. A CPO has at most one active token of each kind.
    """

    __tablename__ = "ocpi_token"
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    kind: str  # registration, credentials
    token_sha256: str = Field(unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None  # used (registration), replaced or unregistered


class OcpiLocation(SQLModel, table=True):
    """The newest Location a CPO's back end pushed, as OCPI JSON with every later PUT and PATCH applied.

    Keyed as OCPI names a Location: (country_code, party_id, location_id), the first two upper case.
    """

    __tablename__ = "ocpi_location"
    __table_args__ = (UniqueConstraint("country_code", "party_id", "location_id"),)
    id: int | None = Field(default=None, primary_key=True)
    cpo_id: int = Field(foreign_key="cpo.id", index=True)
    country_code: str
    party_id: str
    location_id: str
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    last_updated: datetime  # the Location's last_updated: an older PUT or PATCH changes nothing
    received_at: datetime = Field(default_factory=utcnow)
