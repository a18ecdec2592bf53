"""Input at the boundary, the same on every store: text that is not Unicode, documents over
the size limits, and NaN/infinities in the JSON API."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import httpx
import pytest

import picidae
from picidae.core.validation import MAX_DOC_BYTES, MAX_DOC_KEYS
from picidae.errors import InvalidInput

BAD = "bad\udffftext"


def _api(store_url: str) -> httpx.Client:
    """A raw client of the test's server, with its token."""
    return httpx.Client(base_url=store_url, timeout=30, headers={
        "Authorization": f"Bearer {os.environ['PICIDAE_TOKEN']}",
        "Content-Type": "application/json"})


@pytest.mark.parametrize("kwargs", [{"config": {"a": BAD}}, {"config": {BAD: 1}},
                                    {"config": {"a": {"b": [BAD]}}}, {"tags": [BAD]},
                                    {"alias": BAD}, {"name": BAD}],
                         ids=["config", "config-key", "nested", "tags", "alias", "name"])
def test_a_lone_surrogate_at_init_is_invalid_input(store_url: str,
                                                   kwargs: dict[str, Any]) -> None:
    kwargs = {"name": "ok", **kwargs}
    with pytest.raises(InvalidInput, match="lone surrogate") as err:
        picidae.init(store=store_url, capture_env=False, **kwargs)
    assert err.value.field.split(".")[0] in ("config", "tags", "alias", "name")
    assert picidae.runs(store=store_url) == []


@pytest.mark.parametrize("call", ["summary", "log_text", "metric key", "log_config"])
def test_a_lone_surrogate_in_a_write_is_invalid_input_and_loses_nothing(
        store_url: str, call: str) -> None:
    run = picidae.init("ok", store=store_url, capture_env=False).log(x=1.0)
    with pytest.raises(InvalidInput, match="lone surrogate"):
        if call == "summary":
            run.summary({"s": BAD})
        elif call == "log_text":
            run.log_text(BAD)
        elif call == "log_config":
            run.log_config({"c": {BAD: 2}})
        else:
            run.log({BAD: 1.0})
    run.log(x=2.0).finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.metrics("x").values == [1.0, 2.0] and rv.status == "completed"


def test_a_lone_surrogate_over_the_api_is_a_422_naming_the_field(store_url: str) -> None:
    if not store_url.startswith("http"):
        pytest.skip("the raw HTTP API")
    with _api(store_url) as api:
        _surrogates_over_the_api(api)


def _surrogates_over_the_api(api: httpx.Client) -> None:
    for body, field in (({"name": "x", "config": {"a": BAD}}, "config"),
                        ({"name": "x", "tags": [BAD]}, "tags"),
                        ({"name": "x", "alias": BAD}, "alias"),
                        ({"name": BAD}, "name")):
        r = api.post("/api/v1/runs", content=json.dumps(body))
        assert r.status_code == 422, (body, r.text)
        assert field in r.json()["field"]
    run = api.post("/api/v1/runs", json={"name": "ok", "status": "running"}).json()
    for batch, field in (({"logs": [[1.0, "log", BAD]]}, "logs"),
                         ({"summary": {"s": BAD}}, "summary"),
                         ({"fields": {"tags": [BAD]}}, "tags")):
        r = api.post(f"/api/v1/runs/{run['id']}/batch", content=json.dumps(batch))
        assert r.status_code == 422, (batch, r.text)
        assert field in r.json()["field"]


def _many_keys(n: int) -> dict[str, Any]:
    return {f"k{i}": i for i in range(n)}


def test_a_config_over_the_key_limit_is_refused_naming_it(store_url: str) -> None:
    with pytest.raises(InvalidInput, match=f"at most {MAX_DOC_KEYS}") as err:
        picidae.init("huge", config=_many_keys(MAX_DOC_KEYS + 1), store=store_url,
                     capture_env=False)
    assert err.value.field == "config"
    nested = {"a": {f"k{i}": {"x": i} for i in range(MAX_DOC_KEYS + 1)}}
    run = picidae.init("grows", store=store_url, capture_env=False)
    with pytest.raises(InvalidInput, match="keys") as err:
        run.log_config(nested)
    run.log_config(_many_keys(MAX_DOC_KEYS // 2))
    with pytest.raises(InvalidInput):  # the whole config, not one call, is what is limited
        run.log_config({f"j{i}": i for i in range(MAX_DOC_KEYS // 2 + 1)})
    run.log(x=1.0).finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert len(rv.config) == MAX_DOC_KEYS // 2 and rv.metrics("x").values == [1.0]


def test_a_summary_over_the_size_limit_is_refused_naming_it(store_url: str) -> None:
    run = picidae.init("big", store=store_url, capture_env=False)
    with pytest.raises(InvalidInput, match=f"at most {MAX_DOC_BYTES}") as err:
        run.summary({"blob": "x" * MAX_DOC_BYTES})
    assert err.value.field == "summary"
    run.summary({"fine": "x" * 1000}).finish()
    assert picidae.get_run(run.id, store=store_url).summary == {"fine": "x" * 1000}


def test_an_int_too_long_for_json_text_is_refused_naming_the_field(store_url: str) -> None:
    # Python writes no int past 4,300 digits as text: before, init and summary() raised a
    # bare ValueError from the JSON encoder; the run and its other values are kept.
    huge = 10**5000
    with pytest.raises(InvalidInput, match="cannot be written as JSON") as err:
        picidae.init("huge", store=store_url, capture_env=False, config={"n": huge})
    assert err.value.field == "config"
    run = picidae.init("huge", store=store_url, capture_env=False, config={"n": 10**300})
    with pytest.raises(InvalidInput, match="cannot be written as JSON") as err:
        run.summary({"n": huge})
    assert err.value.field == "summary"
    run.summary({"fine": 1}).finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.summary == {"fine": 1} and rv.config == {"n": 10**300}


def test_an_int_past_every_float_is_kept_and_found_on_every_store(store_url: str) -> None:
    # Indexed as an infinity (the float() of it overflowed: init raised, or the run was
    # dropped), kept exactly in the document, found by a where on its number.
    run = picidae.init("past-floats", store=store_url, capture_env=False,
                       config={"huge": 10**400, "lr": 0.1})
    run.finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.config == {"huge": 10**400, "lr": 0.1}
    found = picidae.runs(store=store_url, where="config.huge > 1e308")
    assert [r.id for r in found] == [run.id]


def test_huge_configs_over_the_api_are_refused_naming_the_field(store_url: str) -> None:
    if not store_url.startswith("http"):
        pytest.skip("the raw HTTP API")
    with _api(store_url) as api:
        _huge_over_the_api(api)


def _huge_over_the_api(api: httpx.Client) -> None:
    r = api.post("/api/v1/runs", json={"name": "x", "config": _many_keys(MAX_DOC_KEYS + 1)})
    assert r.status_code == 422 and r.json()["field"] == "config"
    run = api.post("/api/v1/runs", json={"name": "ok", "status": "running"}).json()
    r = api.post(f"/api/v1/runs/{run['id']}/batch",
                 json={"config": {"blob": "x" * (MAX_DOC_BYTES + 10)}})
    assert r.status_code in (413, 422) and r.json()["field"] in ("config", "body")
    assert api.get("/api/v1/runs", params={"limit": 10}).json()["runs"][0]["config"] == {}


def test_nan_and_infinities_are_told_apart_in_the_json_api(store_url: str) -> None:
    run = picidae.init("nan", store=store_url, capture_env=False)
    run.log(n=math.nan, p=math.inf, m=-math.inf).summary(
        {"n": math.nan, "p": math.inf, "m": -math.inf, "s": "NaN"}).finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert math.isnan(rv.summary["n"]) and rv.summary["p"] == math.inf
    assert rv.summary["m"] == -math.inf and rv.summary["s"] == "NaN"  # a string stays one
    latest = rv.latest_metrics()
    assert math.isnan(latest["n"]) and (latest["p"], latest["m"]) == (math.inf, -math.inf)
    if not store_url.startswith("http"):
        return
    with _api(store_url) as api:
        record = api.get(f"/api/v1/runs/{run.id}").json()
        points = api.get(f"/api/v1/runs/{run.id}/metrics/n").json()["points"]
        nulls = api.get(f"/api/v1/runs/{run.id}",
                        headers={"X-Picidae-Nonfinite": "null"}).json()
    assert {k: record["summary"][k] for k in "npm"} == {
        "n": "NaN", "p": "Infinity", "m": "-Infinity"}
    assert points[0]["value"] == "NaN"
    assert nulls["summary"]["n"] is None and nulls["summary"]["s"] == "NaN"


def test_a_bad_batch_is_the_same_error_on_every_store_and_changes_nothing(
        store_url: str) -> None:
    from picidae.core.run import LogLine
    from picidae.store.base import Batch
    from picidae.store.registry import open_store

    run = picidae.init("direct", store=store_url, capture_env=False).log(x=1.0).flush()
    store = open_store(store_url)
    messages = []
    for batch in (Batch(logs=[LogLine(1.0, "log", BAD)]), Batch(summary={"s": BAD}),
                  Batch(config=_many_keys(MAX_DOC_KEYS + 1)),
                  Batch(fields={"tags": [BAD]})):
        with pytest.raises(InvalidInput) as err:
            store.write(run.id, batch)
        messages.append((err.value.field, err.value.message))
    assert messages == [
        ("logs", "logs is not valid text: it holds a lone surrogate '\\udfff' at character 3"),
        ("summary.s", "summary.s is not valid text: it holds a lone surrogate '\\udfff' at "
                      "character 3"),
        ("config", f"config has {MAX_DOC_KEYS + 1} keys; at most {MAX_DOC_KEYS}"),
        ("tags", "tags is not valid text: it holds a lone surrogate '\\udfff' at character 3")]
    run.finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.logs() == [] and rv.summary == {} and rv.config == {} and rv.tags == []
    assert rv.metrics("x").values == [1.0]
