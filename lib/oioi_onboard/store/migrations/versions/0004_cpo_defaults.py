"""cpo defaults: values for fields a CPO's files lack

``cpo.defaults`` is a JSON object {template field: value}; NULL (every
existing CPO) means none.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 20:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('defaults', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.drop_column('defaults')
