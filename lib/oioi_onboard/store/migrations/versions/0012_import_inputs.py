"""import_record.input_sha256: a push's inputs and the registry's state after it, to repeat it unread

A push of the same file with the same options, when nothing in the registry changed since the import it
repeats, is recorded as a repeat of that import without reading, mapping and validating the file again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 13:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('import_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('input_sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index(batch_op.f('ix_import_record_input_sha256'), ['input_sha256'], unique=False)
    # The newest station change is part of that key: read from an index, not from 50,000 rows.
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_station_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_station_updated_at'))
    with op.batch_alter_table('import_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_record_input_sha256'))
        batch_op.drop_column('input_sha256')
