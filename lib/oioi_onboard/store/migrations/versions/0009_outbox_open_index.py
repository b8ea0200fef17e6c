"""outbox: an index for a claim's first open row of a kind

``ix_outbox_open`` (state, kind, id): a claim starts its scan at the oldest open row of the kinds it
claims; without it that min() walked every pending row (a national push: 50,000 at each claim).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 06:10:00.000000
"""

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_open', 'outbox', ['state', 'kind', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_open', table_name='outbox')
