"""Every example in docs/integrations.md runs as it is and records the run it says it does.

The examples run in this process (in a fresh folder, as ``__main__``): the frameworks are
imported once for all the integration tests instead of once per example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from integration_helpers import framework

import picidae

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
# Which framework (and extra) each section's example needs, and the metric it must record.
SECTIONS = {
    "Lightning": ("lightning", "lightning", "train_loss"),
    "Hugging Face Transformers": ("transformers", "transformers", "loss"),
    "Keras": ("keras", "keras", "val_loss"),
    "XGBoost": ("xgboost", "xgboost", "valid/rmse"),
    "LightGBM": ("lightgbm", "lightgbm", "valid/l2"),
    "Optuna": ("optuna", "optuna", "value"),
}


def _examples() -> dict[str, str]:
    text = DOC.read_text()
    found = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
        if blocks:
            found[title] = "\n".join(blocks)
    return found


def test_every_section_has_one_tested_example() -> None:
    assert sorted(_examples()) == sorted(SECTIONS)


# What the frameworks themselves warn about (warnings are errors in the tests).
@pytest.mark.filterwarnings("ignore:.*does not have many workers")
@pytest.mark.filterwarnings("ignore:.*LeafSpec.* is deprecated")
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
@pytest.mark.parametrize("title", sorted(SECTIONS))
def test_the_example_runs_and_records_a_completed_run(title: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    module, extra, metric = SECTIONS[title]
    framework(module, extra)
    monkeypatch.chdir(tmp_path)
    code = compile(_examples()[title], f"{DOC}:{title}", "exec")
    exec(code, {"__name__": "__main__"})

    [run] = picidae.runs(name=f"examples/{module}")
    assert run.status == "completed"
    if module == "optuna":
        children = run.children()
        assert len(children) == 8 and {c.status for c in children} <= {"completed",
                                                                          "canceled"}
        assert all(metric in c.metric_keys() for c in children)
    else:
        assert metric in run.metric_keys()
