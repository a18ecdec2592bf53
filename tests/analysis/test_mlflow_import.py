"""``picidae import`` of MLflow runs, from stores MLflow itself wrote (tests/fixtures/mlflow:
an ``mlruns`` folder and a SQLite tracking database; ``make_fixture.py`` rebuilds them)."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path

import pytest

import picidae
from picidae.analysis import mlflow
from picidae.cli.main import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mlflow"


@pytest.fixture
def mlruns(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "mlruns", tmp_path / "mlruns"))


@pytest.fixture
def mlflow_db(tmp_path: Path) -> Path:
    target = tmp_path / "mlflow.db"
    with gzip.open(FIXTURES / "mlflow.db.gz", "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def _check_imported(url: str, *, artifacts: bool) -> None:
    runs = {r.name: r for r in picidae.runs(store=url, include_archived=True)}
    assert set(runs) == {"fixture/sweep", "fixture/seed-1", "fixture/seed-2", "fixture/broken"}
    sweep = runs["fixture/sweep"]
    assert sweep.config == {"layers": 3, "lr": 0.01, "optimizer": "adam", "use_amp": True}
    assert {"mlflow", "mlflow.experiment=fixture", "team=vision", "purpose=fixture"} \
        <= set(sweep.tags)
    assert sweep.status == "completed" and sweep.parent_id is None
    assert [t["to"] for t in sweep.transitions] == ["running", "completed"]
    kids = sweep.children()
    assert [k.name for k in kids] == ["fixture/seed-1", "fixture/seed-2"]
    assert all(k.parent_id == sweep.id and k.root_id == sweep.id and k.trigger == "child"
               for k in kids)
    seed2 = runs["fixture/seed-2"]
    assert seed2.config == {"seed": 2}
    loss = seed2.metrics("loss")
    assert loss.steps == [0, 1, 2, 3]
    assert loss.values[:3] == [3.0, 2.5, pytest.approx(1 / 3 + 2)] and math.isnan(loss.values[3])
    assert all(1.7e9 < t < 2e9 for t in loss.times)
    assert seed2.metrics("acc").values == [pytest.approx(0.7)]
    broken = runs["fixture/broken"]
    assert broken.status == "failed" and broken.config == {"lr": 0.1}
    assert broken.failure["reason"] == "error"
    assert picidae.runs(store=url, where="config.lr = 0.01")[0].id == sweep.id
    names = [a["name"] for a in sweep.artifacts()]
    if artifacts:
        assert names == ["model.txt"]
        assert sweep.artifact("model.txt").read_text() == "weights v1\n"


def test_import_an_mlruns_folder_maps_nesting_params_metrics_and_tags(
        where_store_url: str, mlruns: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PICIDAE_ARTIFACTS", str(tmp_path / "artifacts"))
    main(["import", str(mlruns), "--store", where_store_url, "--json"])
    done = json.loads(capsys.readouterr().out)
    assert len(done["imported"]) == 4 and done["blobs"] == 1
    _check_imported(where_store_url, artifacts=True)
    main(["import", str(mlruns.parent), "--store", where_store_url])  # the folder holding it
    assert "Imported 0 runs" in capsys.readouterr().out and \
        len(picidae.runs(store=where_store_url)) == 4


def test_import_an_mlflow_tracking_database(where_store_url: str, mlflow_db: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    main(["import", f"sqlite:///{mlflow_db}", "--store", where_store_url])
    assert "Imported 4 runs from MLflow" in capsys.readouterr().out
    _check_imported(where_store_url, artifacts=False)  # its artifact folder is not here
    from_file = mlflow.read(mlflow_db)
    assert sorted(r.name or "" for r in from_file) == ["broken", "seed-1", "seed-2", "sweep"]


def test_mlflow_ids_are_stable_and_time_ordered() -> None:
    a = mlflow.run_uuid7(1_700_000_000_000, "abc")
    assert a == mlflow.run_uuid7(1_700_000_000_000, "abc")
    assert a != mlflow.run_uuid7(1_700_000_000_000, "abd")
    assert a < mlflow.run_uuid7(1_700_000_000_001, "abc")
    from picidae.core.ids import id_time

    assert id_time(a) == 1_700_000_000.0


def test_param_values_read_back_as_numbers_and_booleans() -> None:
    assert [mlflow.param_value(v) for v in ("3", "-2", "0.01", "1e-3", "True", "false",
                                            "None", "adam", "0.1.2", " 7 ")] == \
        [3, -2, 0.01, 0.001, True, False, None, "adam", "0.1.2", 7]


def test_importing_something_that_is_neither_fails_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["import", str(tmp_path / "empty"), "--store", str(tmp_path / "store")])
    assert exit_info.value.code == 1
    assert "not a Picidae bundle" in capsys.readouterr().err
