"""Where each CPO stands in onboarding, as a sequence of steps, and which one comes next.

register -> test the connection -> import stations -> fix errors -> push stations -> statuses live.

Worked out from what the store holds: the CPO row (its last connection test),
its stations (stored, acknowledged by the endpoint), its latest import
(errors), its outbox (station-posts queued or refused) and its status events
(one delivered, or the stage the first delivery set, which never goes back). The overview lists the next
step of every CPO; each step page shows the whole sequence for its CPO.
A handful of grouped queries for all CPOs at once, not a set per CPO.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, case, func, not_, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session

from ..errors import NotFound
from ..oioi.vocabulary import STATION_POST
from ..wording import counted
from .auth import Actor, require_sees
from .connection import PROVEN_BY_PUSH
from .models import OPEN_STATES, Cpo, ImportRecord, Outbox, OutboxState, Stage, Station, StatusEvent
from .queries import list_cpos
from .station_list import listed

STEPS = ("register", "connection", "import", "fix", "push", "statuses")
STEP_TITLES = {
    "register": "Register",
    "connection": "Test the connection",
    "import": "Import stations",
    "fix": "Fix errors",
    "push": "Push stations",
    "statuses": "Statuses live",
}


@dataclass(frozen=True)
class Step:
    key: str  # one of STEPS
    title: str
    done: bool
    detail: str  # what the store says about it, in words


@dataclass(frozen=True)
class OnboardingProgress:
    """One CPO's onboarding: every step in order, done or not."""

    cpo_id: int
    cpo: str
    steps: tuple[Step, ...]

    @property
    def next(self) -> Step | None:
        """The first step not done; None once statuses are live and nothing waits."""
        return next((step for step in self.steps if not step.done), None)

    @property
    def next_title(self) -> str:
        """The next step as tables and the CLI name it: its title, or "done"."""
        return self.next.title if self.next is not None else "done"

    @property
    def done(self) -> int:
        return sum(step.done for step in self.steps)

    def step(self, key: str) -> Step:
        return next(step for step in self.steps if step.key == key)


def onboarding(session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None,
               include_inactive: bool = False) -> dict[int, OnboardingProgress]:
    """CPO id -> its ``OnboardingProgress``, for the CPOs this person sees (or those of ``cpo_ids``, all of which they
    must see: PermissionDenied otherwise), in the order of their names."""
    cpos = list_cpos(session, actor=actor, include_inactive=True)
    if cpo_ids is not None:
        wanted = set(cpo_ids)
        require_sees(actor, wanted)
        cpos = [cpo for cpo in cpos if cpo.id in wanted]
    elif not include_inactive:
        cpos = [cpo for cpo in cpos if cpo.active]
    if not cpos:
        return {}
    ids = [cpo.id for cpo in cpos]

    # As the push plan (sync.diff) sees them: a station missing from its CPO's latest full upload is gone, as
    # one removed here is; once the endpoint acknowledged its deletion it counts no more.
    live = listed(session, ids)
    unsent = and_(live, or_(Station.acked_sha256.is_(None), Station.acked_sha256 != Station.payload_sha256))
    to_delete = and_(not_(live), Station.acked_sha256.is_not(None), Station.acked_deleted == False)  # noqa: E712
    stations = {cpo_id: tuple(int(count or 0) for count in counts) for cpo_id, *counts in session.execute(
        sa_select(Station.cpo_id, func.sum(case((live, 1), else_=0)),
                  func.sum(case((and_(live, Station.acked_at.is_not(None)), 1), else_=0)),
                  func.sum(case((unsent, 1), else_=0)), func.sum(case((to_delete, 1), else_=0)))
        .where(Station.cpo_id.in_(ids)).group_by(Station.cpo_id)).all()}
    outbox = {}
    for cpo_id, state, count in session.execute(
        sa_select(Outbox.cpo_id, Outbox.state, func.count())
        .where(Outbox.cpo_id.in_(ids), Outbox.kind == STATION_POST,
               Outbox.state.in_([*OPEN_STATES, OutboxState.FAILED]))
        .group_by(Outbox.cpo_id, Outbox.state)
    ).all():
        outbox.setdefault(cpo_id, {})[OutboxState(state)] = count
    latest = (sa_select(func.max(ImportRecord.id)).where(ImportRecord.cpo_id.in_(ids))
              .group_by(ImportRecord.cpo_id))
    imports = {record.cpo_id: record for record in session.execute(
        sa_select(ImportRecord).where(ImportRecord.id.in_(latest))).scalars().all()}
    delivered = _delivered(session, ids)

    return {cpo.id: _progress(cpo, stations.get(cpo.id, (0, 0, 0, 0)), outbox.get(cpo.id, {}), imports.get(cpo.id),
                              cpo.id in delivered) for cpo in cpos}


def _delivered(session: Session, cpo_ids: list[int]) -> set[int]:
    """Of ``cpo_ids``, those with a status the platform acknowledged."""
    return set(session.execute(
        sa_select(StatusEvent.cpo_id).where(StatusEvent.cpo_id.in_(cpo_ids), StatusEvent.delivery == "delivered")
        .distinct()).scalars().all())


def statuses_delivered(session: Session, *, actor: Actor, cpo_id: int) -> bool:
    """Whether a status of this CPO reached the platform: the last step's news, without counting every station
    (a page that waits for it asks every few seconds)."""
    require_sees(actor, [cpo_id])
    return cpo_id in _delivered(session, [cpo_id])


def cpo_onboarding(session: Session, *, actor: Actor, cpo_id: int) -> OnboardingProgress:
    """One CPO's ``OnboardingProgress``; PermissionDenied if the person may not see it."""
    found = onboarding(session, actor=actor, cpo_ids=[cpo_id])
    if cpo_id not in found:
        raise NotFound(f"there is no CPO with id {cpo_id}")
    return found[cpo_id]


def _progress(cpo: Cpo, stations: tuple[int, int, int, int], outbox: dict[OutboxState, int],
              record: ImportRecord | None, delivered: bool) -> OnboardingProgress:
    stored, acked, unsent, to_delete = stations
    steps = [Step("register", STEP_TITLES["register"], True, f"registered with endpoint {cpo.endpoint}")]

    if cpo.connection_ok:
        passed = PROVEN_BY_PUSH if cpo.connection_message == PROVEN_BY_PUSH else "the last connection test passed"
        connection = Step("connection", STEP_TITLES["connection"], True, passed)
    elif cpo.connection_ok is False:
        connection = Step("connection", STEP_TITLES["connection"], False,
                          f"the last connection test failed: {cpo.connection_message or 'no answer'}")
    elif acked:  # pushed past an untested connection: the acknowledgements prove it
        connection = Step("connection", STEP_TITLES["connection"], True,
                          f"not tested, but the endpoint acknowledged {counted(acked, 'station')}")
    else:
        connection = Step("connection", STEP_TITLES["connection"], False, "not tested yet")
    steps.append(connection)

    steps.append(Step("import", STEP_TITLES["import"], stored > 0,
                      f"{counted(stored, 'station')} stored" if stored else "no station stored yet"))

    if record is None:
        fix = Step("fix", STEP_TITLES["fix"], stored > 0, "nothing imported yet" if not stored else "no import errors")
    elif record.errors:
        blocked = max(record.stations - record.stations_stored, 0)
        fix = Step("fix", STEP_TITLES["fix"], False,
                   f"{counted(record.errors, 'error')} in the latest import ({record.file_name}): "
                   f"{counted(blocked, 'station')} blocked")
    else:
        fix = Step("fix", STEP_TITLES["fix"], stored > 0, f"no errors in the latest import ({record.file_name})")
    steps.append(fix)

    failed = outbox.get(OutboxState.FAILED, 0)
    queued = sum(outbox.get(state, 0) for state in OPEN_STATES)
    if not stored:
        push = Step("push", STEP_TITLES["push"], False, "no station to push yet")
    elif failed:
        push = Step("push", STEP_TITLES["push"], False, f"{counted(failed, 'station-post')} refused by the endpoint")
    elif queued:
        push = Step("push", STEP_TITLES["push"], False, f"{counted(queued, 'station-post')} being sent")
    elif unsent or to_delete:
        # A deletion waits for the push as a new station does (the push page asks to confirm it).
        waiting = [f"{counted(unsent, 'station')} not pushed yet"] if unsent else []
        waiting += [f"{counted(to_delete, 'deletion')} to push"] if to_delete else []
        push = Step("push", STEP_TITLES["push"], False, "; ".join(waiting))
    else:
        push = Step("push", STEP_TITLES["push"], True, f"{counted(acked, 'station')} acknowledged by the endpoint")
    steps.append(push)

    live = delivered or Stage(cpo.stage) == Stage.STATUSES_LIVE
    steps.append(Step("statuses", STEP_TITLES["statuses"], live,
                      "statuses reach the platform" if live else "no status delivered yet"))
    return OnboardingProgress(cpo_id=cpo.id, cpo=cpo.name, steps=tuple(steps))
