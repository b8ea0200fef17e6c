"""ocpi receiver: the tokens of its credentials handshake and the Locations pushed to it

``ocpi_token`` holds the SHA-256 of each registration token (TOKEN_A) and credentials token
(TOKEN_C) a CPO's back end uses with the receiver; ``ocpi_location`` the newest Location each
back end pushed, as OCPI JSON. Two new tables: nothing existing changes.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02 21:07:04.912623
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ocpi_location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cpo_id', sa.Integer(), nullable=False),
    sa.Column('country_code', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('party_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('location_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('last_updated', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cpo_id'], ['cpo.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('country_code', 'party_id', 'location_id')
    )
    with op.batch_alter_table('ocpi_location', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ocpi_location_cpo_id'), ['cpo_id'], unique=False)

    op.create_table('ocpi_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cpo_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('token_sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['cpo_id'], ['cpo.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_sha256')
    )
    with op.batch_alter_table('ocpi_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ocpi_token_cpo_id'), ['cpo_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ocpi_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ocpi_token_cpo_id'))

    op.drop_table('ocpi_token')
    with op.batch_alter_table('ocpi_location', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ocpi_location_cpo_id'))

    op.drop_table('ocpi_location')
