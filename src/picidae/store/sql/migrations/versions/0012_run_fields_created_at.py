"""run_fields.created_at: a page sorted by a config or summary key read from one index

The run's creation time is copied into each of its ``run_fields`` rows (it never changes),
and the ``(section, key, num)`` index becomes ``(section, key, num, created_at, run_id)``:
the listing's full order for a key (its value, then newest first), so a page sorted by
``config.K`` or ``summary.K`` walks the index and stops at the page's end instead of
sorting every run (store/sql/query.py). Existing rows are filled from ``runs``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('run_fields', sa.Column('created_at', sa.Float(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('UPDATE run_fields SET created_at = runs.created_at FROM runs '
                   'WHERE runs.id = run_fields.run_id')
    else:
        op.execute('UPDATE run_fields SET created_at = (SELECT runs.created_at FROM runs '
                   'WHERE runs.id = run_fields.run_id)')
    with op.batch_alter_table('run_fields', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_fields_section_key_num'))
        batch_op.create_index(batch_op.f('ix_run_fields_section_key_num_created_at_run_id'),
                              ['section', 'key', 'num', 'created_at', 'run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run_fields', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_fields_section_key_num_created_at_run_id'))
        batch_op.create_index(batch_op.f('ix_run_fields_section_key_num'),
                              ['section', 'key', 'num'], unique=False)
        batch_op.drop_column('created_at')
