"""First run of the embedded default (`make run`): schema, secret key, first admin, demo CPO;
then, once the embedded sandbox answers, every CPO on it provisioned there and its connection tested.

The demo CPO is an ordinary sandbox CPO with a fixed key and partner identifier. The
sandbox is started without any identity: ``prepare_embedded`` runs before the sandbox
process exists (its provisioning is then pending), and ``connect_sandbox_cpos``, called
by the launcher as soon as the sandbox answers, provisions every sandbox CPO there.
That also heals what a fixed start-up identity would not: CPOs registered while the
sandbox was down, and a deleted or reset sandbox database.

The second demo CPO, "Demo OCPI CPO", is a CPO that already speaks OCPI: its OCPI connection names the
OCPI simulator the launcher starts (``oioi-onboard ocpi-sandbox``), so its stations come from its back
end with no file. Once the simulator answers, ``pull_demo_ocpi_cpo`` pulls its Locations through the
one pull workflow (``workflows.ocpi.pull_locations``, as ``oioi-onboard ocpi pull --push`` does) and
queues their first push, which the worker sends; the worker pulls it from then on. Its live statuses
come the way a real CSMS sends them: the launcher gives the simulator a registration token
(``demo_ocpi_registration_token``), with which it performs the credentials handshake at the relay's
OCPI receiver and then PATCHes EVSE statuses there.
"""

import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlmodel import Session, func, select

from ..errors import OnboardError
from ..settings import OCPI_SANDBOX_TOKEN, SANDBOX_API_KEY, SANDBOX_PARTNER_ID, get_settings
from ..store.auth import SYSTEM, create_user
from ..store.connection import SANDBOX, ConnectionCheck, check_cpo_connection, provision_sandbox
from ..store.db import migrate, session_scope
from ..store.models import Cpo, ImportRecord, PushRun, Role, User
from ..store.ocpi_connection import set_ocpi_connection
from ..store.registry import register_cpo
from ..store.secrets import ensure_secret_key
from ..wording import counted
from .imports import import_file

DEMO_CPO_NAME = "Demo CPO"
DEMO_OPERATOR_ID = "DE*DMO"
FIRST_ADMIN_NAME = "admin"
DEMO_NETWORK = Path(__file__).resolve().parents[3] / "sample_data" / "demo_network.csv"
# The CPO behind the OCPI simulator: its party (the simulator's default BE*OCS) and its own fixed
# identity on the embedded sandbox, provisioned there like the first demo CPO's.
DEMO_OCPI_CPO_NAME = "Demo OCPI CPO"
DEMO_OCPI_OPERATOR_ID = "BE*OCS"
DEMO_OCPI_API_KEY = "sandbox-ocpi-demo-key-0000"
DEMO_OCPI_PARTNER_ID = "sandbox-ocpi-demo-partner-0001"
DEMO_OCPI_PHONE = "+32 9 123 45 67"


def prepare_embedded() -> None:
    """Idempotent: safe on every start; only the first one creates anything."""
    migrate()
    ensure_secret_key()
    with session_scope() as session:
        ensure_first_admin(session)
        demo = ensure_demo_cpo(session)
        seed_demo_stations(session, cpo_id=demo.id)
        ensure_demo_ocpi_cpo(session)


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
    cpo, _ = _ensure_sandbox_cpo(session, name=DEMO_CPO_NAME, operator_id=DEMO_OPERATOR_ID,
                                 api_key=SANDBOX_API_KEY, partner_identifier=SANDBOX_PARTNER_ID)
    return cpo


def _ensure_sandbox_cpo(session: Session, *, name: str, operator_id: str, api_key: str, partner_identifier: str,
                        defaults: dict[str, str] | None = None) -> tuple[Cpo, bool]:
    """A demo CPO on the embedded sandbox, registered once (True when it is new); a person's later changes stay."""
    existing = session.exec(select(Cpo).where(Cpo.name == name)).first()
    if existing is not None:
        return existing, False
    cpo, _ = register_cpo(session, actor=SYSTEM, name=name, operator_ids=[operator_id], endpoint="sandbox",
                          api_key=api_key, partner_identifiers=[partner_identifier], defaults=defaults)
    return cpo, True


def ensure_demo_ocpi_cpo(session: Session) -> Cpo:
    """The demo CPO that speaks OCPI: on the embedded sandbox, its OCPI connection the simulator's versions URL
    and token (set once: a person's later change stays)."""
    cpo, new = _ensure_sandbox_cpo(session, name=DEMO_OCPI_CPO_NAME, operator_id=DEMO_OCPI_OPERATOR_ID,
                                   api_key=DEMO_OCPI_API_KEY, partner_identifier=DEMO_OCPI_PARTNER_ID,
                                   defaults={"phone": DEMO_OCPI_PHONE})  # OCPI 2.2.1 carries no phone; OIOI needs one
    if not new:
        return cpo
    return set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url=get_settings().ocpi_sandbox_url,
                               token=OCPI_SANDBOX_TOKEN)


def demo_ocpi_registration_token() -> str | None:
    """A new registration token (TOKEN_A) for the simulator's handshake at the relay's OCPI receiver, or None
    when there is no active Demo OCPI CPO. Each start makes a new one (the old one stops working); it goes to
    the simulator's environment only, never to a terminal or a log."""
    from ..ocpi.credentials import create_registration_token

    with session_scope() as session:
        cpo = session.exec(select(Cpo).where(Cpo.name == DEMO_OCPI_CPO_NAME, Cpo.active == True)).first()  # noqa: E712
        return None if cpo is None else create_registration_token(session, actor=SYSTEM, cpo_id=cpo.id)


def pull_demo_ocpi_cpo(*, say: Callable[[str], None] = lambda line: None, **client_options) -> str | None:  # noqa: ANN003
    """The Demo OCPI CPO's first pull and push: its Locations pulled through the one pull workflow and their
    push queued for the worker, as ``oioi-onboard ocpi pull --push`` does. Only while it has never pushed
    (then the worker's pulls keep it current); what came of it in one line, None when there was nothing to do.
    """
    from .ocpi import pull_locations

    with session_scope() as session:
        cpo = session.exec(select(Cpo).where(Cpo.name == DEMO_OCPI_CPO_NAME, Cpo.active == True)).first()  # noqa: E712
        if cpo is None or not cpo.ocpi_versions_url \
                or session.exec(select(PushRun.id).where(PushRun.cpo_id == cpo.id)).first() is not None:
            return None
        cpo_id = cpo.id
    try:
        with session_scope() as session:
            result = pull_locations(session, actor=SYSTEM, cpo_id=cpo_id, push=True, say=say, **client_options)
    except OnboardError as error:  # the worker pulls it again; its first push then waits for a person
        return f"{DEMO_OCPI_CPO_NAME}: the first OCPI pull failed: {error}"
    queued = (f", {counted(result.push.requests, 'request')} queued for the worker" if result.push is not None
              and result.push.requests else "")
    return (f"{DEMO_OCPI_CPO_NAME}: {counted(result.locations, 'Location')} pulled from its OCPI back end, "
            f"{counted(result.stations_stored, 'station')} stored{queued}")


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
