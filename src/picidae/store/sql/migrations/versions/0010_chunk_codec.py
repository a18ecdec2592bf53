"""metric chunk codec (issue 17: chunks compressed where it pays; 0 = the raw arrays before)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: SQLite and PostgreSQL add the column without rewriting the table,
    # and every chunk already stored reads as codec 0 (raw arrays), unchanged.
    op.add_column('metric_chunks',
                  sa.Column('codec', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('metric_chunks', schema=None) as batch_op:
        batch_op.drop_column('codec')
