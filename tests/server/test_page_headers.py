"""The UI pages under a Content-Security-Policy that allows no inline script: every script
of a page is a file of this origin (or JSON data, never run)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("path", ["/", "/runs/0190a000-0000-7000-8000-000000000001",
                                  "/compare?ids=a,b", "/history"])
def test_pages_carry_a_csp_without_inline_scripts(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    script_src = next(part for part in csp.split(";") if "script-src" in part)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    for tag in re.findall(r"<script\b[^>]*>", response.text):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+=", response.text), "inline event handler"


def test_static_files_are_not_sniffed(client: TestClient) -> None:
    response = client.get("/static/js/common.js")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
