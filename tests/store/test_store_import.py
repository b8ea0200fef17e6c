"""Storing an accepted import: scoping per CPO, counts, upserts, the import record."""

import numpy as np
import pytest
from sqlmodel import select

from oioi_onboard.sheets.validate import validate
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import AuditLog, Connector, Cpo, ImportRecord, Role, Stage, Station
from oioi_onboard.store.queries import PermissionDenied
from oioi_onboard.store.stations import registry_context, station_frame, store_import
from oioi_onboard.testing.sheets import set_row, set_station, valid_frame
from oioi_onboard.testing.store import actor

S1, S2, S3 = "DE*8PS*S0001", "DE*8PS*S0002", "DE*8PS*S0003"


@pytest.fixture
def cpos(cpo, other_cpo):
    """Ours (DE*8PS, the frame's operator id) and Theirs (DE*ABC)."""
    return cpo.id, other_cpo.id


def _import(cpo_id, frame, actor=SYSTEM, with_context=True, file_name="stations.csv"):
    with session_scope() as session:
        context = registry_context(session, cpo_id=cpo_id) if with_context else None
        result = validate(frame, context=context)
        record = store_import(session, actor=actor, cpo_id=cpo_id, file_name=file_name, file_sha256="ab" * 32,
                              validation=result)
        return record, result


def _stations(cpo_id):
    with session_scope() as session:
        return {s.station_id: s for s in session.exec(select(Station).where(Station.cpo_id == cpo_id)).all()}


def _connectors(cpo_id):
    with session_scope() as session:
        return session.exec(select(Connector).where(Connector.cpo_id == cpo_id)).all()


def test_valid_stations_are_stored_with_an_import_record(cpos):
    ours, _ = cpos
    frame = set_row(valid_frame(), 9, speed_kw="0")  # blocks S2
    record, result = _import(ours, frame)
    assert (record.rows, record.stations, record.connectors, record.stations_stored) == (6, 3, 6, 2)
    assert (record.errors, record.warnings, record.user_name, record.file_name) == (1, 0, "system", "stations.csv")
    assert record.file_sha256 == "ab" * 32 and record.full_upload is True
    stored = _stations(ours)
    assert set(stored) == {S1, S3}
    assert stored[S1].payload["connectors"][0]["id"] == "DE*8PS*E0001*1" and stored[S1].import_id == record.id
    assert stored[S1].cpo_operator_id == "DE*8PS" and stored[S1].city == "Mannheim"
    assert len(_connectors(ours)) == 4  # three on S1 (one EVSE with two types), one on S3
    with session_scope() as session:
        assert session.get(Cpo, ours).stage == Stage.STATIONS_VALIDATED
        log = session.exec(select(AuditLog).where(AuditLog.action == "stations.import")).all()
        assert len(log) == 1 and "2 stations stored, 1 blocked" in log[0].detail


def test_other_cpos_ids_and_operator_ids_are_never_stored(cpos):
    ours, theirs = cpos
    _import(theirs, set_station(valid_frame().iloc[:3], S1, cpo_id="DE*ABC").assign(
        evse_id=["DE*ABC*E1", "DE*ABC*E1", "DE*ABC*E2"]))
    with session_scope() as session:
        context = registry_context(session, cpo_id=ours)
    assert context.operator_ids == {"DE*8PS"}
    assert context.foreign_station_ids == {S1} and context.foreign_evse_keys == {"DEABCE1", "DEABCE2"}

    # Without a registry context the validation cannot know; storing checks again.
    frame = set_row(set_station(valid_frame(), S3, cpo_id="DE*ABC"), 12, evse_id="DE*ABC*E3")
    record, result = _import(ours, frame, with_context=False)
    assert result.station_state[S1] == "ok" and result.station_state[S3] == "ok"
    assert record.stations_stored == 1 and set(_stations(ours)) == {S2}
    theirs_now = _stations(theirs)
    assert set(theirs_now) == {S1} and theirs_now[S1].cpo_operator_id == "DE*ABC"

    # With the context the same file is reported, station by station.
    record, result = _import(ours, frame)
    rules = set(result.issues["rule"])
    assert {"station_id_foreign", "operator_not_registered"} <= rules
    assert result.valid_station_ids() == [S2] and record.stations_stored == 1


def test_reimport_updates_in_place_and_keeps_statuses(cpos):
    ours, _ = cpos
    first, _ = _import(ours, valid_frame())
    with session_scope() as session:
        for connector in session.exec(select(Connector)).all():
            connector.status = "Available"
            session.add(connector)
    before = _stations(ours)
    second, _ = _import(ours, set_station(valid_frame(), S2, station_name="Hbf"), file_name="v2.csv")
    after = _stations(ours)
    assert after[S1].payload_sha256 == before[S1].payload_sha256 and after[S1].import_id == second.id
    assert after[S2].payload["name"] == "Hbf" and after[S2].payload_sha256 != before[S2].payload_sha256
    assert after[S2].connectors_signature == before[S2].connectors_signature
    assert all(c.status == "Available" for c in _connectors(ours))

    # A changed connector type changes the signature and replaces only that connector.
    third, _ = _import(ours, set_row(valid_frame(), 10, connector_type="Type2"))
    final = _stations(ours)
    assert final[S2].connectors_signature != after[S2].connectors_signature
    statuses = {(c.evse_id, c.name): c.status for c in _connectors(ours)}
    assert statuses[("DE*8PS*E0002*2", "Type2")] == "Unknown" and ("DE*8PS*E0002*2", "Combo") not in statuses
    assert statuses[("DE*8PS*E0002*1", "Chademo")] == "Available"
    assert len(statuses) == 6


def test_a_reimport_builds_only_the_stations_whose_rows_changed(cpos, monkeypatch):
    """Rows the same as those a station's stored payload was built from: kept without building it again.
    A payload another writer changed since (an OCPI update) is built again from the file."""
    from oioi_onboard.store import stations as storing

    ours, _ = cpos
    built: list[str] = []
    real = storing.station_objects

    def counting(frame, station_ids=None, **options):  # noqa: ANN001, ANN003, ANN202
        for objects in real(frame, station_ids, **options):
            built.extend(objects.ids)
            yield objects

    monkeypatch.setattr(storing, "station_objects", counting)
    _import(ours, valid_frame())
    assert sorted(built) == [S1, S2, S3]
    built.clear()
    first_id = _stations(ours)[S1].import_id
    second, _ = _import(ours, valid_frame(), file_name="again.csv")
    assert built == [] and second.stations_stored == 3
    # A repeat of the latest full upload: the rows keep its id, which the record names.
    assert second.same_as == first_id and second.station_import_id == first_id
    assert {s.import_id for s in _stations(ours).values()} == {first_id}

    _, _ = _import(ours, set_station(valid_frame(), S2, station_name="Hbf"), file_name="v2.csv")
    assert built == [S2] and _stations(ours)[S2].payload["name"] == "Hbf"
    built.clear()
    with session_scope() as session:  # another writer changes S1's payload
        station = session.exec(select(Station).where(Station.station_id == S1)).one()
        station.payload = {**station.payload, "name": "changed elsewhere"}
        station.payload_sha256 = "0" * 64
        session.add(station)
    _import(ours, set_station(valid_frame(), S2, station_name="Hbf"), file_name="v2.csv")
    assert built == [S1] and _stations(ours)[S1].payload["name"] != "changed elsewhere"


def test_a_station_s_source_fingerprint_follows_its_own_rows_only():
    from oioi_onboard.sheets.stations import station_sources

    frame = valid_frame()
    first = station_sources(frame)
    assert set(first) == {S1, S2, S3} and station_sources(frame.copy()) == first
    changed = station_sources(set_row(frame, 10, speed_kw="150"))  # a row of S2
    assert changed[S2] != first[S2] and changed[S1] == first[S1] and changed[S3] == first[S3]
    rows_of_s1 = frame.index[frame["station_id"] == S1]
    swapped = frame.copy()
    swapped.loc[rows_of_s1] = frame.loc[rows_of_s1[::-1]].to_numpy()  # S1's rows in another order
    assert station_sources(swapped)[S1] != first[S1] and station_sources(frame, [S3]) == {S3: first[S3]}


def test_other_code_building_the_stations_makes_other_fingerprints(monkeypatch):
    """After an upgrade that changes how rows become a station object, every station is built again once."""
    from oioi_onboard.sheets import stations

    before = stations.station_sources(valid_frame())
    monkeypatch.setattr(stations, "_builder_version", lambda: np.uint64(12345))
    after = stations.station_sources(valid_frame())
    assert set(after) == set(before) and all(after[key] != before[key] for key in before)


def test_stations_missing_from_a_full_upload_are_kept(cpos):
    ours, _ = cpos
    _import(ours, valid_frame())
    record, _ = _import(ours, valid_frame().iloc[:3])
    assert record.stations_stored == 1 and set(_stations(ours)) == {S1, S2, S3}
    assert not any(s.deleted for s in _stations(ours).values())


def test_a_station_a_full_upload_blocks_is_kept_as_stored_and_not_planned_for_deletion(cpos):
    """The file names it: an error in one of its cells is no reason to delete it from the platform."""
    from oioi_onboard.sync.diff import plan_push

    ours, _ = cpos
    first, _ = _import(ours, valid_frame())
    stored_s2 = _stations(ours)[S2].payload
    with session_scope() as session:  # the endpoint acknowledged them
        for station in session.exec(select(Station).where(Station.cpo_id == ours)).all():
            station.acked_sha256, station.acked_connectors_signature = (station.payload_sha256,
                                                                        station.connectors_signature)
            session.add(station)
    blocked = set_row(valid_frame(), 9, speed_kw="0")  # S2's second connector
    for _ in range(2):  # the second time a repeat of the first
        record, result = _import(ours, blocked)
        assert result.blocked_station_ids() == [S2] and record.stations_stored == 2
        assert _stations(ours)[S2].payload == stored_s2
        with session_scope() as session:
            plan = plan_push(session, actor=SYSTEM, cpo_id=ours)
            assert plan.counts["deleted"] == 0 and plan.counts["unchanged"] == 3, plan.items
    _import(ours, valid_frame().iloc[:3])  # without S2 at all: missing, as before
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=ours)
        assert plan.item(S2).change == "deleted" and plan.item(S2).reason.startswith("missing")


def test_a_repeated_full_upload_leaves_the_rows_and_the_plan_as_they_were(cpos):
    """Only the same stations, all unchanged, make a repeat; anything else tags the stations as before."""
    from oioi_onboard.sync.diff import plan_push

    def plan_counts() -> dict:
        with session_scope() as session:
            return {k: v for k, v in plan_push(session, actor=SYSTEM, cpo_id=ours).counts.items() if v}

    def import_ids() -> dict:
        return {station_id: station.import_id for station_id, station in _stations(ours).items()}

    ours, _ = cpos
    first, _ = _import(ours, valid_frame())
    again, _ = _import(ours, valid_frame())
    third, _ = _import(ours, valid_frame())
    assert (again.same_as, third.same_as) == (first.id, first.id)  # a run of repeats names its first
    assert set(import_ids().values()) == {first.id} and plan_counts() == {"new": 3}

    with session_scope() as session:  # the endpoint acknowledged them
        for station in session.exec(select(Station).where(Station.cpo_id == ours)).all():
            station.acked_sha256, station.acked_connectors_signature = (station.payload_sha256,
                                                                        station.connectors_signature)
            session.add(station)
    assert plan_counts() == {"unchanged": 3}
    fewer, _ = _import(ours, valid_frame().iloc[:3])  # S1 only: S2 and S3 missing from a full upload
    assert fewer.same_as is None and import_ids() == {S1: fewer.id, S2: first.id, S3: first.id}
    assert plan_counts() == {"unchanged": 1, "deleted": 2}
    back, _ = _import(ours, valid_frame())  # all unchanged again, but more stations than the upload before
    assert back.same_as is None and set(import_ids().values()) == {back.id}
    assert plan_counts() == {"unchanged": 3}
    with session_scope() as session:  # a partial upload in between tags S1 with its own id
        result = validate(valid_frame().iloc[:3], context=registry_context(session, cpo_id=ours))
        partial = store_import(session, actor=SYSTEM, cpo_id=ours, file_name="s1.csv", file_sha256="cd" * 32,
                               validation=result, full_upload=False)
    assert import_ids()[S1] == partial.id
    after, _ = _import(ours, valid_frame())
    assert after.same_as is None and set(import_ids().values()) == {after.id}


def test_only_editors_of_the_cpo_may_import(cpos):
    ours, theirs = cpos
    for outsider in (actor("eve", Role.CPO_STAFF, theirs), actor("vic", Role.VIEWER)):
        with pytest.raises(PermissionDenied):
            _import(ours, valid_frame(), actor=outsider)
    with session_scope() as session:
        assert session.exec(select(ImportRecord)).all() == []
    record, _ = _import(ours, valid_frame(), actor=actor("ann", Role.CPO_STAFF, ours))
    assert record.user_name == "ann" and record.stations_stored == 3


def test_station_frame_is_scoped(cpos):
    ours, theirs = cpos
    _import(ours, valid_frame())
    _import(theirs, set_station(valid_frame().iloc[3:5], S2, cpo_id="DE*ABC", station_id="DE*ABC*S1").assign(
        evse_id=["DE*ABC*E1", "DE*ABC*E2"]))
    with session_scope() as session:
        everything = station_frame(session, actor=SYSTEM)
        mine = station_frame(session, actor=actor("ann", Role.CPO_STAFF, ours))
        with pytest.raises(PermissionDenied):
            station_frame(session, actor=actor("ann", Role.CPO_STAFF, ours), cpo_ids=[theirs])
        nobody = station_frame(session, actor=actor("vic", Role.VIEWER))
    assert list(everything.columns) == ["station_id", "name", "latitude", "longitude", "city", "cpo_id",
                                        "connectors", "deleted"]
    assert len(everything) == 4 and set(mine["station_id"]) == {S1, S2, S3}
    assert nobody.empty
    row = mine.set_index("station_id").loc[S1]
    assert row["connectors"] == 3 and row["latitude"] == 49.4875 and not row["deleted"]
