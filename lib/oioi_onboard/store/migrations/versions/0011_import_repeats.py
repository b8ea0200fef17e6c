"""import_record.same_as: a full upload that repeats the stations of an earlier one

A re-import whose every station is stored unchanged, and which holds exactly the stations of the
latest full upload, leaves the station rows as they are (rewriting 50,000 rows only to tag them with
the new import cost most of a national rerun). Its record names the import whose tag they keep.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('import_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('same_as', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('import_record', schema=None) as batch_op:
        batch_op.drop_column('same_as')
