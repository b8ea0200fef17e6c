"""push lock: one push at a time per CPO

``cpo.push_lock_holder`` / ``push_lock_by`` / ``push_lock_since`` / ``push_lock_until``: the push
running for the CPO (its process, who started it, when, and until when it counts as alive), taken
with a conditional UPDATE. Existing rows read as no push running (NULL).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 03:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('push_lock_holder', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('push_lock_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('push_lock_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('push_lock_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.drop_column('push_lock_until')
        batch_op.drop_column('push_lock_since')
        batch_op.drop_column('push_lock_by')
        batch_op.drop_column('push_lock_holder')
