"""Whatever mix of keys, steps, stages and flushes a program logs, every point reads back."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import picidae

KEYS = ("loss", "acc", "lr", "val/acc")
STAGES = (None, "train", "eval")

values = st.floats(allow_nan=True, allow_infinity=True, width=64)
calls = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(KEYS), values, min_size=0, max_size=4),
        st.one_of(st.none(), st.integers(min_value=0, max_value=50)),  # explicit step or auto
        st.sampled_from(STAGES),
        st.booleans(),  # flush after this call
    ),
    min_size=1, max_size=40,
)


def _canon(step: int, value: float, stage: str | None) -> tuple[int, str, str]:
    # Compared as numbers: NaN equals NaN, and -0.0 equals 0.0 (SQLite keeps no negative
    # zero in a REAL column, which the latest-value table is).
    return (step, stage or "", "nan" if math.isnan(value) else repr(value + 0.0))


@settings(max_examples=60, deadline=None)
@given(calls)
def test_every_logged_point_reads_back_in_step_order(script: list[Any]) -> None:
    run = picidae.init("property")
    assert isinstance(run, picidae.Run)
    expected: dict[str, list[tuple[int, str, str]]] = {}
    next_step = 0
    for metrics, step, stage, flush in script:
        run.log(metrics, step=step, stage=stage)
        used = next_step if step is None else step
        next_step = used + 1
        for key, value in metrics.items():
            expected.setdefault(key, []).append(_canon(used, value, stage))
        if flush:
            run.flush()
    run.finish()
    rv = picidae.get_run(run.id)
    assert rv.metric_keys() == sorted(expected)
    latest = rv.latest_metrics()
    for key, points in expected.items():
        series = rv.metrics(key)
        assert series.steps == sorted(series.steps)
        assert sorted(_canon(p.step, p.value, p.stage) for p in series) == sorted(points)
        top = max(p[0] for p in points)
        at_top = {p[2] for p in points if p[0] == top}
        if len(at_top) == 1:  # the latest value is the highest step's
            assert _canon(top, latest[key], None)[2] in at_top
