"""First run of the embedded default (`make run`): schema, secret key, first admin, demo CPO."""

import sys
from pathlib import Path

from sqlmodel import Session, func, select

from ..settings import SANDBOX_API_KEY, SANDBOX_PARTNER_ID, get_settings
from . import queries
from .auth import SYSTEM, create_user
from .db import migrate, session_scope
from .models import Cpo, Role, User
from .registry import register_cpo
from .secrets import ensure_secret_key

DEMO_CPO_NAME = "Demo CPO"
DEMO_OPERATOR_ID = "DE*DMO"
FIRST_ADMIN_NAME = "admin"
DEMO_NETWORK = Path(__file__).resolve().parents[3] / "sample_data" / "demo_network.csv"


def prepare_embedded() -> None:
    """Idempotent: safe on every start; only the first one creates anything."""
    migrate()
    ensure_secret_key()
    with session_scope() as session:
        ensure_first_admin(session)
        demo = ensure_demo_cpo(session)
        seed_demo_stations(session, cpo_id=demo.id)


def ensure_first_admin(session: Session) -> str | None:
    """Create the admin when there is no user at all; returns its password (printed once), else None."""
    if session.exec(select(func.count()).select_from(User)).one() > 0:
        return None
    given = get_settings().admin_password
    _, password = create_user(session, name=FIRST_ADMIN_NAME, role=Role.ADMIN, password=given)
    queries.audit(session, actor_name=SYSTEM.name, action="first admin created", detail=f"user {FIRST_ADMIN_NAME!r}")
    if given:
        print(f"First admin {FIRST_ADMIN_NAME!r} created with the password from OIOI_ADMIN_PASSWORD.", flush=True)
    else:
        # The terminal is the only place this password ever appears; it is not stored in clear.
        print(
            "\n"
            "  First run: an admin account was created.\n"
            f"    user:     {FIRST_ADMIN_NAME}\n"
            f"    password: {password}\n"
            "  It is shown only this once. Change it on the CPOs page (Accounts), or create\n"
            "  more users with: oioi-onboard user add NAME --role ROLE\n",
            file=sys.stderr,
            flush=True,
        )
    return password


def ensure_demo_cpo(session: Session) -> Cpo:
    """The demo CPO on the embedded sandbox, with the sandbox's fixed key and partner identifier."""
    existing = session.exec(select(Cpo).where(Cpo.name == DEMO_CPO_NAME)).first()
    if existing is not None:
        return existing
    cpo, _ = register_cpo(
        session,
        actor=SYSTEM,
        name=DEMO_CPO_NAME,
        operator_ids=[DEMO_OPERATOR_ID],
        endpoint="sandbox",
        api_key=SANDBOX_API_KEY,
        partner_identifiers=[SANDBOX_PARTNER_ID],
    )
    return cpo


def seed_demo_stations(session: Session, *, cpo_id: int) -> int:
    """Import the demo network into the demo CPO once, so a new user has stations to push."""
    from ..sheets.mapping import apply_mapping, suggest_mapping
    from ..sheets.reader import read_sheet
    from ..sheets.validate import validate
    from .models import ImportRecord
    from .stations import registry_context, store_import

    if not DEMO_NETWORK.exists() or session.exec(select(ImportRecord).where(ImportRecord.cpo_id == cpo_id)).first():
        return 0
    raw = read_sheet(DEMO_NETWORK.read_bytes(), DEMO_NETWORK.name)
    frame, mapping_issues = apply_mapping(raw, suggest_mapping(raw).mapping)
    validation = validate(frame, context=registry_context(session, cpo_id=cpo_id), extra_issues=mapping_issues)
    record = store_import(
        session, actor=SYSTEM, cpo_id=cpo_id, file_name=raw.file_name, file_sha256=raw.sha256, validation=validation
    )
    return record.stations_stored
