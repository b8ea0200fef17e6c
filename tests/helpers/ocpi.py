"""The OCPI receiver's tests: example files, tokens, a registered back end, the endpoint's acknowledgements."""

import json
from pathlib import Path

from sqlmodel import select

from oioi_onboard.ocpi.credentials import create_registration_token, register
from oioi_onboard.ocpi.models import Credentials, VersionDetails
from oioi_onboard.oioi.vocabulary import STATION_POST
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.sync.outbox import Outcome, claim, record_results
from oioi_onboard.testing.csms import token_header

DATA = Path(__file__).resolve().parents[1] / "data" / "ocpi"
# What OCPI 2.2.1 has no field for, and the official example Location lacks: from the CPO's defaults.
GENT_DEFAULTS = {"phone": "+32 9 265 03 00", "is_open_24": "true"}


def example(name: str) -> dict:
    """One of the official examples (or our own files) in tests/data/ocpi."""
    return json.loads((DATA / name).read_text())


def registered(session, cpo_id: int, parties=(("BE", "BEC"),)) -> str:
    """The credentials token (TOKEN_C) of a back end registered for ``parties``, without the HTTP of the
    handshake (tested on its own): the library's own registration."""
    token_a = create_registration_token(session, actor=SYSTEM, cpo_id=cpo_id)
    peer = Credentials.model_validate({"token": "their-token-b", "url": "http://127.0.0.1:1/ocpi/versions", "roles": [
        {"role": "CPO", "country_code": c, "party_id": p, "business_details": {"name": "CSMS"}} for c, p in parties]})
    details = VersionDetails.model_validate({"version": "2.2.1", "endpoints": [
        {"identifier": "locations", "role": "SENDER", "url": "http://127.0.0.1:1/ocpi/2.2.1/locations"}]})
    return register(session, token=token_a, peer=peer, details=details,
                    versions_url="http://127.0.0.1/ocpi/versions")["token"]


def auth(token: str, *, plain: bool = False) -> dict[str, str]:
    return {"Authorization": token_header(token, plain=plain)}


def endpoint_acknowledges(cpo_id: int) -> int:
    """Every station-post of the CPO due now, acknowledged as the worker records an endpoint's success."""
    acked = 0
    with session_scope() as session:
        while rows := claim(session, worker_id="test-endpoint", limit=100, cpo_id=cpo_id, kinds=(STATION_POST,)):
            record_results(session, [Outcome(row.id, "acked", code=0) for row in rows])
            session.commit()
            acked += len(rows)
    return acked


def rows_of(model, **where) -> list:
    with session_scope() as session:
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return list(session.exec(query.order_by(model.id)).all())
