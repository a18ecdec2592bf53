"""history and facets at a million runs: failure reason and cost columns, covering indexes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:45:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def _backfill() -> None:
    """Fill the new columns of the runs that have a failure or a cost (the documents that
    mention neither are left as they are: NULL is their value)."""
    from picidae.store.sql.base import fact_columns

    conn = op.get_bind()
    runs = sa.table('runs', sa.column('id', sa.String), sa.column('data', sa.Text),
                    sa.column('failure_reason', sa.Text), sa.column('cost_amount', sa.Float),
                    sa.column('cost_currency', sa.Text))
    scan = sa.select(runs.c.id, runs.c.data).where(sa.or_(
        runs.c.data.contains('"failure":{'), runs.c.data.contains('"cost":')))
    update = runs.update().where(runs.c.id == sa.bindparam('b_id')).values(
        failure_reason=sa.bindparam('b_reason'), cost_amount=sa.bindparam('b_amount'),
        cost_currency=sa.bindparam('b_currency'))
    rows = conn.execute(scan).all()
    for lo in range(0, len(rows), _BATCH):
        params = []
        for row in rows[lo:lo + _BATCH]:
            found = fact_columns(json.loads(row.data))
            if any(value is not None for value in found.values()):
                params.append({'b_id': row.id, 'b_reason': found['failure_reason'],
                               'b_amount': found['cost_amount'],
                               'b_currency': found['cost_currency']})
        if params:
            conn.execute(update, params)


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cost_amount', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('cost_currency', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_runs_workspace_status_created_at_failure_reason'),
                              ['workspace', 'status', 'created_at', 'failure_reason'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_runs_workspace_parent_id_status'),
                              ['workspace', 'parent_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_workspace_cost_amount_cost_currency'),
                              ['workspace', 'cost_amount', 'cost_currency'], unique=False)
    # Outside the batch: SQLite's batch mode reflects the table, and cannot reflect an index
    # on an expression.
    op.create_index('ix_runs_workspace_duration', 'runs',
                    ['workspace', sa.text('(ended_at - started_at)'), 'status', 'ended_at',
                     'started_at'], unique=False)
    _backfill()


def downgrade() -> None:
    op.drop_index('ix_runs_workspace_duration', table_name='runs')  # before the batch: above
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_workspace_cost_amount_cost_currency'))
        batch_op.drop_index(batch_op.f('ix_runs_workspace_parent_id_status'))
        batch_op.drop_index(batch_op.f('ix_runs_workspace_status_created_at_failure_reason'))
        batch_op.drop_column('cost_currency')
        batch_op.drop_column('cost_amount')
        batch_op.drop_column('failure_reason')
