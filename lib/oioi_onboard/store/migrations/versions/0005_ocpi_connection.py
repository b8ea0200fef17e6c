"""cpo OCPI connection: the CPO's OCPI back end to pull Locations from

``cpo.ocpi_versions_url`` and ``cpo.ocpi_token_encrypted`` (a Fernet token,
like the API key) with its last 4 characters; ``ocpi_token_plain`` says the
peer takes the token unencoded; ``ocpi_pull_minutes`` how often the worker
pulls; the last pull's start, the last full pull and a message. Existing
CPOs read as not connected: NULL, false and 15 minutes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 21:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ocpi_versions_url', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('ocpi_token_encrypted', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('ocpi_token_last4', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('ocpi_token_plain', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('ocpi_pull_minutes', sa.Integer(), nullable=False, server_default='15'))
        batch_op.add_column(sa.Column('ocpi_last_pull_started_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('ocpi_last_full_pull_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('ocpi_last_pull_message', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cpo', schema=None) as batch_op:
        batch_op.drop_column('ocpi_last_pull_message')
        batch_op.drop_column('ocpi_last_full_pull_at')
        batch_op.drop_column('ocpi_last_pull_started_at')
        batch_op.drop_column('ocpi_pull_minutes')
        batch_op.drop_column('ocpi_token_plain')
        batch_op.drop_column('ocpi_token_last4')
        batch_op.drop_column('ocpi_token_encrypted')
        batch_op.drop_column('ocpi_versions_url')
