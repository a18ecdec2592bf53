"""``fail(reason="abandoned")`` (or ``"interrupted"``) ends a run ``canceled``: the contract's
synonyms, so abandoned work stays out of crash metrics and failure rates (seed 001)."""

from __future__ import annotations

import pytest

import picidae


@pytest.mark.parametrize("word", ["abandoned", "interrupted", "Abandoned"])
def test_fail_with_a_cancel_synonym_ends_the_run_canceled(store_url: str, word: str) -> None:
    run = picidae.init(f"idea-{word.lower()}", store=store_url, capture_env=False)
    run.log(loss=1.0).fail(reason=word, message="the idea did not pan out")
    assert run.status == "canceled"
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.status == "canceled" and rv.failure is None
    assert rv.transitions[-1]["reason"] == word
    assert "the idea did not pan out" in str(rv.logs())


def test_abandoned_runs_stay_out_of_the_failure_rate(store_url: str) -> None:
    for name in ("ok-1", "ok-2"):
        picidae.init(f"study/{name}", store=store_url, capture_env=False).finish()
    picidae.init("study/crashed", store=store_url, capture_env=False).fail("crash")
    picidae.init("study/dropped", store=store_url, capture_env=False).fail(reason="abandoned")
    total = picidae.history(store=store_url)["total"]
    assert total["failed"] == 1 and total["canceled"] == 1
    assert total["failures"] == {"crash": 1}  # the abandoned run is no crash
    assert total["failure_rate"] == pytest.approx(1 / 4)
