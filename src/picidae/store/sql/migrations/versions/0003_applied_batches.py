"""applied batches (idempotent batch writes)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('applied_batches',
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_applied_batches'))
    )
    with op.batch_alter_table('applied_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applied_batches_at'), ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('applied_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applied_batches_at'))
    op.drop_table('applied_batches')
