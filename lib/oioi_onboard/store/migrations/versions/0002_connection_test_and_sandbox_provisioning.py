"""connection test and sandbox provisioning

The last connection test per CPO (when, whether it passed, what it said) and, for
CPOs on the embedded sandbox, why provisioning is pending and the replaced key
whose partner identifiers the sandbox still has to move. All nullable: existing
CPOs read as "never tested".

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 18:57:50.116252
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('connection_checked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('connection_ok', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('connection_message', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('sandbox_pending', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('sandbox_previous_key_encrypted', sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.drop_column('sandbox_previous_key_encrypted')
        batch_op.drop_column('sandbox_pending')
        batch_op.drop_column('connection_message')
        batch_op.drop_column('connection_ok')
        batch_op.drop_column('connection_checked_at')
