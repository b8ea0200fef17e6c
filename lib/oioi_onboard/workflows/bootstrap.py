"""First run of the embedded default (`make run`): schema, secret key, first admin, demo CPO;
then, once the embedded sandbox answers, every CPO on it provisioned there and its connection tested.

The demo CPO is an ordinary sandbox CPO with a fixed key and partner identifier. The
sandbox is started without any identity: ``prepare_embedded`` runs before the sandbox
process exists (its provisioning is then pending), and ``connect_sandbox_cpos``, called
by the launcher as soon as the sandbox answers, provisions every sandbox CPO there.
That also heals what a fixed start-up identity would not: CPOs registered while the
sandbox was down, and a deleted or reset sandbox database.
"""

import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlmodel import Session, func, select

from ..settings import SANDBOX_API_KEY, SANDBOX_PARTNER_ID, get_settings
from ..store.auth import SYSTEM, create_user
from ..store.connection import SANDBOX, ConnectionCheck, check_cpo_connection, provision_sandbox
from ..store.db import migrate, session_scope
from ..store.models import Cpo, ImportRecord, Role, User
from ..store.registry import register_cpo
from ..store.secrets import ensure_secret_key
from .imports import import_file

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
    _, password = create_user(session, actor=SYSTEM, name=FIRST_ADMIN_NAME, role=Role.ADMIN, password=given)
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
    """The demo CPO on the embedded sandbox, with a fixed key and partner identifier (provisioned there
    like any other CPO's, by ``connect_sandbox_cpos`` once the sandbox answers)."""
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
    if not DEMO_NETWORK.exists() or session.exec(select(ImportRecord).where(ImportRecord.cpo_id == cpo_id)).first():
        return 0
    result = import_file(session, actor=SYSTEM, cpo_id=cpo_id, data=DEMO_NETWORK.read_bytes(),
                         file_name=DEMO_NETWORK.name)
    return result.record.stations_stored


def wait_for_sandbox(*, seconds: float = 30.0, alive: Callable[[], bool] = lambda: True) -> bool:
    """Whether the embedded sandbox answers its health check within ``seconds``."""
    url = get_settings().sandbox_base_url + "/_sandbox/health"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(url, timeout=1.0, trust_env=False).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def connect_sandbox_cpos() -> list[tuple[str, ConnectionCheck]]:
    """Provision every active CPO on the embedded sandbox there, and test the connection of those
    whose last test did not pass (the demo CPO on the first start); returns (CPO name, result) of each test.

    Provisioning is idempotent and audited only when it changes something, so running
    this on every start is cheap; a CPO whose last test passed is not tested again.
    """
    results = []
    with session_scope() as session:
        cpos = session.exec(select(Cpo).where(Cpo.endpoint == SANDBOX, Cpo.active == True)  # noqa: E712
                            .order_by(Cpo.name)).all()
        for cpo in cpos:
            pending = provision_sandbox(session, actor=SYSTEM, cpo_id=cpo.id)
            if pending or not cpo.connection_ok:
                results.append((cpo.name, check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo.id)))
    return results
