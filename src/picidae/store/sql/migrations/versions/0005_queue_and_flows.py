"""queue and flows (executor: workers claim queued runs; flows are versioned templates)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('flow', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('flow_version', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_runs_status_queue_created_at'), ['status', 'queue', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_flow_created_at'), ['flow', 'created_at'], unique=False)

    op.create_table('flows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace', sa.String(length=64), server_default='default', nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flows'))
    )
    with op.batch_alter_table('flows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flows_workspace_name_version'), ['workspace', 'name', 'version'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('flows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flows_workspace_name_version'))
    op.drop_table('flows')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_flow_created_at'))
        batch_op.drop_index(batch_op.f('ix_runs_status_queue_created_at'))
        batch_op.drop_column('flow_version')
        batch_op.drop_column('flow')
        batch_op.drop_column('queue')
