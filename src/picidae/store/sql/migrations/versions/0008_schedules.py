"""schedules (picidae schedule add/ls/rm/pause/resume) and the slots they fired

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('schedules',
    sa.Column('workspace', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('cron', sa.String(length=256), nullable=False),
    sa.Column('tz', sa.String(length=64), nullable=False),
    sa.Column('spec', sa.Text(), nullable=True),
    sa.Column('flow', sa.String(length=256), nullable=True),
    sa.Column('paused', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('last_slot', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('workspace', 'name', name=op.f('pk_schedules'))
    )
    op.create_table('schedule_fires',
    sa.Column('workspace', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('slot', sa.Float(), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.Column('fired_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('workspace', 'name', 'slot', name=op.f('pk_schedule_fires'))
    )


def downgrade() -> None:
    op.drop_table('schedule_fires')
    op.drop_table('schedules')
