"""fewer pages per run: the claim index holds only runs given to workers

``runs (status, queue, created_at)`` becomes partial (``queue IS NOT NULL``): a run started
by the SDK has no queue and wrote an entry there at its create and moved it at its finish.
Claims ask ``queue = …`` and still read it (store/sql/queue.py); the watchdog's ``lost``
branch and status filters read ``(status, last_heartbeat_at)``, which starts with the same
column.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 02:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = 'ix_runs_status_queue_created_at'
_COLUMNS = ['status', 'queue', 'created_at']


def upgrade() -> None:
    # Not in batch mode: SQLite's batch mode cannot reflect the expression index of 0011.
    op.drop_index(_NAME, table_name='runs')
    where = sa.text('queue IS NOT NULL')
    op.create_index(_NAME, 'runs', _COLUMNS, unique=False, sqlite_where=where,
                    postgresql_where=where)


def downgrade() -> None:
    op.drop_index(_NAME, table_name='runs')
    op.create_index(_NAME, 'runs', _COLUMNS, unique=False)
