"""lineage and staleness (run_io: versioned inputs and outputs; run_stale: outdated runs)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('run_io',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('version', sa.String(length=256), nullable=True),
    sa.Column('digest', sa.String(length=128), nullable=True),
    sa.Column('at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_io'))
    )
    with op.batch_alter_table('run_io', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_io_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_run_io_name_direction'), ['name', 'direction'], unique=False)

    op.create_table('run_stale',
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('upstream_id', sa.String(length=36), nullable=True),
    sa.Column('input', sa.String(length=256), nullable=True),
    sa.Column('at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_run_stale'))
    )


def downgrade() -> None:
    op.drop_table('run_stale')
    with op.batch_alter_table('run_io', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_io_name_direction'))
        batch_op.drop_index(batch_op.f('ix_run_io_run_id'))
    op.drop_table('run_io')
