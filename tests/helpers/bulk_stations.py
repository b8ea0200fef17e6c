"""Old names still imported by bench/ (bench_overview, bench_rerun); the code lives in oioi_onboard.testing.store.

Delete this file once bench/ imports ``oioi_onboard.testing.store`` (``make_cpo(...).id`` replaces ``register_cpo``).
"""

from sqlmodel import Session

from oioi_onboard.testing.store import make_cpo, station_payload, store_stations

__all__ = ["register_cpo", "station_payload", "store_stations"]


def register_cpo(session: Session, *, name: str, operator_id: str, partner_identifier: str, endpoint: str,
                 api_key: str | None) -> int:
    """``make_cpo`` with the old keywords; returns the CPO's id."""
    return make_cpo(session, name=name, operator_ids=operator_id, partner_ids=partner_identifier, endpoint=endpoint,
                    api_key=api_key).id
