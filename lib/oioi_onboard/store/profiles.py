"""Mapping profiles saved per CPO: a CPO whose files always look the same maps once.

The mapping itself (``sheets.mapping.Mapping``) knows nothing of the database;
this is where it is kept, scoped to the acting person like every CPO's data.
"""

from sqlmodel import Session, select

from ..errors import NotFound, UserError
from ..sheets.mapping import Mapping
from .auth import Actor, require_edit
from .models import MappingProfile, utcnow
from .queries import audit, get_cpo


def save_profile(session: Session, *, actor: Actor, cpo_id: int, name: str, mapping: Mapping) -> MappingProfile:
    """Save (or replace) the CPO's profile ``name``."""
    require_edit(actor, get_cpo(session, actor=actor, cpo_id=cpo_id).id)
    name = " ".join(name.split())
    if not name:
        raise UserError("a profile needs a name")
    if len(name) > 80:
        raise UserError("a profile name is at most 80 characters long")
    row = session.exec(
        select(MappingProfile).where(MappingProfile.cpo_id == cpo_id, MappingProfile.name == name)
    ).first()
    if row is None:
        row = MappingProfile(cpo_id=cpo_id, name=name, mapping=mapping.to_dict())
    else:
        row.mapping = mapping.to_dict()
        row.updated_at = utcnow()
    session.add(row)
    audit(session, actor_name=actor.name, action="mapping profile saved", cpo_id=cpo_id, detail=f"profile {name!r}")
    session.flush()
    return row


def saved_profiles(session: Session, *, actor: Actor, cpo_id: int) -> dict[str, Mapping]:
    """The CPO's saved profiles by name, in name order."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    rows = session.exec(
        select(MappingProfile).where(MappingProfile.cpo_id == cpo_id).order_by(MappingProfile.name)
    ).all()
    return {row.name: Mapping.from_dict(row.mapping) for row in rows}


def delete_profile(session: Session, *, actor: Actor, cpo_id: int, name: str) -> None:
    require_edit(actor, get_cpo(session, actor=actor, cpo_id=cpo_id).id)
    row = session.exec(
        select(MappingProfile).where(MappingProfile.cpo_id == cpo_id, MappingProfile.name == name.strip())
    ).first()
    if row is None:
        raise NotFound(f"this CPO has no saved mapping profile {name!r}")
    session.delete(row)
    audit(session, actor_name=actor.name, action="mapping profile deleted", cpo_id=cpo_id, detail=f"profile {name!r}")
    session.flush()
