"""delivery: set-up pause fingerprint and endpoint unreachable

``cpo.paused_setup`` remembers which set-up (endpoint, API key, partner
identifiers) the endpoint refused, so a changed set-up resumes the queue by
itself; ``cpo.unreachable_since`` / ``unreachable_reason`` say since when every
request to the CPO's endpoint failed with a transient error. All nullable:
existing CPOs read as reachable and, if paused, wait for a resume as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_setup', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('unreachable_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('unreachable_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.drop_column('unreachable_reason')
        batch_op.drop_column('unreachable_since')
        batch_op.drop_column('paused_setup')
