"""History's range is bounded: the UI's bucketed history refuses more than ``MAX_BUCKETS``
buckets with a 422 naming days and bucket, and every accepted range stays within it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import picidae
from picidae.analysis.history import MAX_BUCKETS, timeline_buckets
from picidae.errors import InvalidInput
from picidae.server.app import create_app


@pytest.fixture
def client(store_dir: Path) -> Iterator[TestClient]:
    picidae.init("one", store=str(store_dir)).finish()
    with TestClient(create_app(str(store_dir), watchdog=False)) as c:
        yield c


@pytest.mark.parametrize(("days", "bucket"), [(3650, "hour"), (3650, "day"), (84, "hour")])
def test_too_many_buckets_is_a_422_naming_days_and_bucket(client: TestClient, days: int,
                                                          bucket: str) -> None:
    res = client.get("/api/v1/ui/history", params={"days": days, "bucket": bucket})
    assert res.status_code == 422
    body = res.json()
    assert body["field"] == "days"
    assert f"days={days} with bucket={bucket}" in body["message"]
    assert f"at most {MAX_BUCKETS}" in body["message"]


@pytest.mark.parametrize(("days", "bucket", "expected"), [
    (3650, "week", "week"), (3650, "auto", "week"), (83, "hour", "hour"),
    (1999, "day", "day"), (1, "auto", "hour"), (30, "auto", "day"),
])
def test_every_accepted_range_has_at_most_max_buckets(client: TestClient, days: int,
                                                      bucket: str, expected: str) -> None:
    res = client.get("/api/v1/ui/history", params={"days": days, "bucket": bucket})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["bucket"] == expected
    assert 1 <= len(body["buckets"]) <= MAX_BUCKETS
    assert body["total"] == 1
    assert sum(sum(b["counts"].values()) for b in body["buckets"]) == 1


def test_a_non_finite_end_is_refused(client: TestClient) -> None:
    res = client.get("/api/v1/ui/history", params={"days": 1, "until": "inf"})
    assert res.status_code == 422 and "until" in res.text


def test_timeline_buckets_suggests_a_coarser_bucket() -> None:
    with pytest.raises(InvalidInput, match=r"use bucket=week \(or auto\), or at most 83 days"):
        timeline_buckets(3650, "hour", time.time())
    bucket, size, start, n = timeline_buckets(83, "hour", time.time())
    assert (bucket, size) == ("hour", 3600.0) and n <= MAX_BUCKETS and start % 3600 == 0
