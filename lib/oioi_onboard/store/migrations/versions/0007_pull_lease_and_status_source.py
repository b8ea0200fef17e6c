"""OCPI pull lease and status source: one worker pulls a CPO at a time; where a connector's status came from

``cpo.ocpi_pull_lease_holder`` and ``cpo.ocpi_pull_lease_until``: the worker pulling the CPO now, and
until when (taken with a conditional UPDATE). ``connector.status_source``: the source of the status a
connector holds (``ocpi``, ``api``, ``file``, ``ui`` ...), shown on the live map. Existing rows read as
not leased and of no known source (NULL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 03:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ocpi_pull_lease_holder', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('ocpi_pull_lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('connector', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_source', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('connector', schema=None) as batch_op:
        batch_op.drop_column('status_source')
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.drop_column('ocpi_pull_lease_until')
        batch_op.drop_column('ocpi_pull_lease_holder')
