"""fewer pages per run: package sets stored once, partial indexes on runs

A run's installed packages (``env.packages`` of its data document, ~6 KB) move to
``package_sets``, once per distinct set, named by ``runs.packages_digest`` (the SHA-256 of
the set's JSON); the document keeps the digest in the key's place
(store/sql/package_sets.py). Existing runs are moved here and moved back on a downgrade.

The indexes on ``runs`` that serve only runs with a value (``parent_id``, ``flow``, a cost)
become partial: a run without one writes no entry in them. (``root_id`` is every run's: its
own id for a top-level run.)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 02:00:00.000000
"""

import json
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2000

# (name, columns, the rows it keeps): the same names as before, now partial.
_PARTIAL = [
    ('ix_runs_flow_created_at', ['flow', 'created_at'], 'flow IS NOT NULL'),
    ('ix_runs_parent_id', ['parent_id'], 'parent_id IS NOT NULL'),
    ('ix_runs_workspace_cost_amount_cost_currency',
     ['workspace', 'cost_amount', 'cost_currency'], 'cost_amount IS NOT NULL'),
]

_RUNS = sa.table('runs', sa.column('id', sa.String), sa.column('data', sa.Text),
                 sa.column('packages_digest', sa.String))
_SETS = sa.table('package_sets', sa.column('digest', sa.String),
                 sa.column('packages', sa.Text))


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(',', ':'), allow_nan=True)


def _pages(conn: sa.Connection, columns: Sequence[sa.ColumnElement[object]],
           where: sa.ColumnElement[bool]) -> Iterator[Sequence[sa.Row[object]]]:
    """The ``runs`` rows ``where`` matches, ``_BATCH`` at a time in id order (so a million
    runs never sit in memory at once)."""
    after = ''
    while True:
        rows = conn.execute(sa.select(_RUNS.c.id, *columns).where(_RUNS.c.id > after, where)
                            .order_by(_RUNS.c.id).limit(_BATCH)).all()
        if not rows:
            return
        after = rows[-1].id
        yield rows


def _move_out() -> None:
    """Move every document's dict of packages to ``package_sets``."""
    from picidae.store.sql import package_sets

    conn = op.get_bind()
    update = _RUNS.update().where(_RUNS.c.id == sa.bindparam('b_id')).values(
        data=sa.bindparam('b_data'), packages_digest=sa.bindparam('b_digest'))
    for rows in _pages(conn, [_RUNS.c.data], _RUNS.c.data.contains('"packages":{')):
        params = []
        for row in rows:
            doc, digest, body = package_sets.split(json.loads(row.data))
            if digest is not None and body is not None:
                package_sets.keep(conn, digest, body)
                params.append({'b_id': row.id, 'b_data': _dumps(doc), 'b_digest': digest})
        if params:
            conn.execute(update, params)


def _move_back() -> None:
    """Put every set back into the documents that name it."""
    conn = op.get_bind()
    update = _RUNS.update().where(_RUNS.c.id == sa.bindparam('b_id')).values(
        data=sa.bindparam('b_data'))
    sets: dict[str, object] = {}
    for rows in _pages(conn, [_RUNS.c.data, _RUNS.c.packages_digest],
                       _RUNS.c.packages_digest.is_not(None)):
        params = []
        for row in rows:
            digest = row.packages_digest
            if digest not in sets:
                body = conn.execute(sa.select(_SETS.c.packages)
                                    .where(_SETS.c.digest == digest)).scalar()
                sets[digest] = None if body is None else json.loads(body)
            data = json.loads(row.data)
            env = data.get('env')
            if isinstance(env, dict) and sets[digest] is not None:
                env['packages'] = sets[digest]
                params.append({'b_id': row.id, 'b_data': _dumps(data)})
        if params:
            conn.execute(update, params)


def upgrade() -> None:
    op.create_table(
        'package_sets',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('packages', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_package_sets')),
    )
    op.add_column('runs', sa.Column('packages_digest', sa.String(length=64), nullable=True))
    _move_out()
    # Not in batch mode: SQLite's batch mode reflects the table, and cannot reflect the
    # index on an expression (0011).
    for name, columns, where in _PARTIAL:
        op.drop_index(name, table_name='runs')
        op.create_index(name, 'runs', columns, unique=False,
                        sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, columns, _where in _PARTIAL:
        op.drop_index(name, table_name='runs')
        op.create_index(name, 'runs', columns, unique=False)
    _move_back()
    op.drop_column('runs', 'packages_digest')
    op.drop_table('package_sets')
