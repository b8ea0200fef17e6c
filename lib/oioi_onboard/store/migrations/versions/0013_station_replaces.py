"""station.replaces: the station id a replacement station stands in for

A station whose connectors changed is soft-deleted and pushed again under ``<id>-N``
(``sync.outbox._enqueue_replacement``). The replacement row now says which id it replaces, so
the station list (``store.station_list.missing_from_upload``) keeps it while ``<id>`` is in the latest
full upload without reading station ids as names (a CPO's own ``PARIS-2`` is no replacement).
Replacements made before are found by their outbox rows: the "replaced" post of ``<id>-N``
depends on the soft-delete of ``<id>``.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 14:05:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaces', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.execute(
        "UPDATE station SET replaces = ("
        " SELECT deletion.key FROM outbox AS replaced JOIN outbox AS deletion ON deletion.id = replaced.depends_on"
        " WHERE replaced.cpo_id = station.cpo_id AND replaced.key = station.station_id"
        " AND replaced.change = 'replaced' ORDER BY replaced.id DESC LIMIT 1)"
        " WHERE EXISTS (SELECT 1 FROM outbox AS replaced WHERE replaced.cpo_id = station.cpo_id"
        " AND replaced.key = station.station_id AND replaced.change = 'replaced')"
    )


def downgrade() -> None:
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.drop_column('replaces')
