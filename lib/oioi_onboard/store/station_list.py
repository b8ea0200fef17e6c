"""A CPO's station list: the stations of its latest full upload (and of partial imports since), not removed here.

A station missing from the latest full upload leaves the list: the push plan proposes its deletion if the
endpoint holds it, and the overview, the live views, the onboarding and the simulator no longer count it.
One expression for all of them (``listed``), so they never disagree.
"""

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, case, exists, false, func, not_, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from .models import ImportRecord, Station

__all__ = ["latest_full_import_id", "latest_full_import_ids", "missing_from_upload", "listed"]


def latest_full_import_id(session: Session, cpo_id: int) -> int | None:
    """The import id the stations of the CPO's latest full upload carry (``ImportRecord.station_import_id``)."""
    return latest_full_import_ids(session, [cpo_id]).get(cpo_id)


def latest_full_import_ids(session: Session, cpo_ids: list[int]) -> dict[int, int]:
    """``latest_full_import_id`` of each of ``cpo_ids`` that has a full upload."""
    latest = (select(func.max(ImportRecord.id)).where(ImportRecord.cpo_id.in_(cpo_ids),
                                                       ImportRecord.full_upload == True)  # noqa: E712
              .group_by(ImportRecord.cpo_id))
    return {record.cpo_id: record.station_import_id
            for record in session.exec(select(ImportRecord).where(ImportRecord.id.in_(latest)))}


def missing_from_upload(latest_full: dict[int, int]) -> ColumnElement[bool]:
    """Stations missing from their CPO's latest full upload (``latest_full_import_ids``): stored by an import
    before it. A replacement (``Station.replaces``) is never in a file: it is there while the station it replaces
    is (and not removed here)."""
    if not latest_full:
        return false()
    base = aliased(Station)
    replaced_there = exists().where(
        base.cpo_id == Station.cpo_id, base.station_id == Station.replaces, base.deleted == False,  # noqa: E712
        or_(base.import_id.is_(None), base.import_id >= case(latest_full, value=base.cpo_id, else_=0)))
    # Never NULL, and in this order: a station of its CPO's latest full upload is settled by one lookup in the set
    # of those imports (each belongs to one CPO), not by a CASE of one branch per CPO (200 CPOs: 2.3x the overview's
    # time); SQLite asks the subquery only of a replacement stored before the upload.
    return and_(Station.import_id.is_not(None), Station.import_id.not_in(sorted(set(latest_full.values()))),
                Station.import_id < case(latest_full, value=Station.cpo_id, else_=0),
                or_(Station.replaces.is_(None), not_(replaced_there)))


def listed(session: Session, cpo_ids: Iterable[int]) -> ColumnElement[bool]:
    """The stations these CPOs list now: not removed here and not missing from the CPO's latest full upload.
    One missing is pushed as a deletion if the endpoint holds it; the overview, the live views and the
    onboarding count neither."""
    latest_full = latest_full_import_ids(session, list(cpo_ids))
    return and_(Station.deleted == False, not_(missing_from_upload(latest_full)))  # noqa: E712
