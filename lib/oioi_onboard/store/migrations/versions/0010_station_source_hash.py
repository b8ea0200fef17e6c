"""station.source_hash: the file rows a station was built from

A re-import whose rows for a station are the same (``sheets.stations.station_sources``) keeps it
without building and hashing its station object again. Existing rows read as unknown (NULL): their
next import builds them as before and records it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 06:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.drop_column('source_hash')
