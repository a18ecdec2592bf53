"""Run actions on the run page: each changes the run's state as shown after a reload; a read
token sees no action buttons. Driven in Chromium against a real server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import VIEWPORT, child_env
from processes import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_server: Any) -> Any:
    """A server of its own: the runs these tests add stay out of the shared demo store."""
    root = tmp_path_factory.mktemp("actions")
    srv = ServerProcess(str(root / "store"), child_env(root / "home"),
                        log=root / "server.log").start()
    yield srv
    srv.stop()


def _post(url: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{url}{path}", json=body, headers=headers, timeout=30)
    response.raise_for_status()
    return response.json()


def _new_run(url: str, name: str, end: str | None = "completed", token: str | None = None,
             **fields: Any) -> dict[str, Any]:
    run = _post(url, "/api/v1/runs", {"name": name, "command": ["python", "train.py"],
                                      "config": {"lr": 0.1}, "tags": ["keep", "old"],
                                      **fields}, token)
    if end:
        _post(url, f"/api/v1/runs/{run['id']}/transitions", {"to": "running"}, token)
        _post(url, f"/api/v1/runs/{run['id']}/transitions", {"to": end}, token)
    return dict(run)


def _status(page: Any) -> str:
    return str(page.locator(".run-head .title .badge").inner_text())


def _actions(page: Any) -> list[str]:
    return list(page.locator("[data-action]").evaluate_all(
        "els => els.map(e => e.dataset.action)"))


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("main[data-loaded='1']")


def test_archive_and_restore_show_after_a_reload(page, server):
    run = _new_run(server.url, "actions/archive-me")
    _open(page, f"{server.url}/runs/{run['id']}")
    assert _actions(page) == ["edit", "retry", "replay", "archive"]
    page.click("[data-action=archive]")
    page.wait_for_selector("[data-action=restore]")
    page.reload()
    page.wait_for_selector("main[data-loaded='1']")
    assert _status(page) == "archived"
    assert _actions(page) == ["edit", "retry", "replay", "restore"]
    page.click("[data-action=restore]")
    page.wait_for_selector("[data-action=archive]")
    page.reload()
    page.wait_for_selector("[data-action=archive]")
    assert _status(page) == "completed"
    assert page.console.take() == []


def test_edit_changes_tags_alias_and_notes_as_shown_after_a_reload(page, server):
    run = _new_run(server.url, "actions/edit-me")
    _open(page, f"{server.url}/runs/{run['id']}")
    page.click("[data-action=edit]")
    page.fill("form[data-form=edit] input[name=alias]", "the good one")
    page.fill("form[data-form=edit] input[name=add_tags]", "promising, reviewed")
    page.check("form[data-form=edit] input[name=remove_tags][value=old]")
    page.fill("form[data-form=edit] textarea[name=notes]", "Beats the baseline by 2 points.")
    page.click("form[data-form=edit] button[type=submit]")
    page.wait_for_selector(".action-form[hidden]", state="attached")
    page.reload()
    page.wait_for_selector("main[data-loaded='1']")
    tags = page.locator("[data-section=tags] a.tag").all_inner_texts()
    assert sorted(tags) == ["keep", "promising", "reviewed"]
    assert "the good one" in page.locator(".run-head .title").inner_text()
    assert page.locator("[data-section=notes]").inner_text().endswith(
        "Beats the baseline by 2 points.")
    edited = httpx.get(f"{server.url}/api/v1/runs/{run['id']}").json()
    assert edited["alias"] == "the good one" and len(edited["edits"]) == 1
    assert page.console.take() == []


def test_cancel_a_queued_run(page, server):
    run = _new_run(server.url, "actions/cancel-me", end=None, queue="nobody-claims-this")
    _open(page, f"{server.url}/runs/{run['id']}")
    assert _actions(page) == ["edit", "cancel", "replay"]
    page.click("[data-action=cancel]")
    page.wait_for_selector("[data-action=archive]")
    page.reload()
    page.wait_for_selector("[data-action=archive]")
    assert _status(page) == "canceled"
    assert page.console.take() == []


def test_retry_and_replay_open_a_new_run_linked_to_the_old(page, server):
    run = _new_run(server.url, "actions/rerun-me", end="failed")
    _open(page, f"{server.url}/runs/{run['id']}")
    page.click("[data-action=retry]")
    page.wait_for_url(re.compile(r"/runs/(?!" + run["id"] + ")"))
    page.wait_for_selector("main[data-loaded='1']")
    assert "retry of" in page.locator(".run-head .crumbs").inner_text()
    retried = page.url.rsplit("/", 1)[-1]
    rec = httpx.get(f"{server.url}/api/v1/runs/{retried}").json()
    assert (rec["retry_of"], rec["attempt"], rec["status"]) == (run["id"], 2, "queued")

    _open(page, f"{server.url}/runs/{run['id']}")
    page.click("[data-action=replay]")
    page.fill("form[data-form=replay] textarea[name=set]", "lr=0.01\nopt.name=adam")
    page.click("form[data-form=replay] button[type=submit]")
    page.wait_for_url(re.compile(r"/runs/(?!" + run["id"] + ")"))
    page.wait_for_selector("main[data-loaded='1']")
    assert "replay of" in page.locator(".run-head .crumbs").inner_text()
    rec = httpx.get(f"{server.url}/api/v1/runs/{page.url.rsplit('/', 1)[-1]}").json()
    assert rec["replay_of"] == run["id"]
    assert rec["config"] == {"lr": 0.01, "opt": {"name": "adam"}}

    # a bad override is shown in the form, naming the field; nothing is queued
    _open(page, f"{server.url}/runs/{run['id']}")
    page.click("[data-action=replay]")
    page.fill("form[data-form=replay] textarea[name=set]", "no equals sign")
    page.click("form[data-form=replay] button[type=submit]")
    error = page.locator("form[data-form=replay] .error")
    error.wait_for()
    assert error.inner_text().startswith("set:")
    assert all("422" in e for e in page.console.take())  # the refused request, only


@pytest.fixture
def token_server(tmp_path: Path, browser: Any) -> Any:
    tokens = tmp_path / "tokens"
    tokens.write_text("w-token lab write\nr-token lab read\n")
    server = ServerProcess(str(tmp_path / "store"), child_env(tmp_path / "home"),
                           "--token-file", str(tokens), log=tmp_path / "server.log").start()
    yield server
    server.stop()


def _with_token(browser: Any, url: str, token: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.goto(url)
    tab.fill("#token-dialog input[name=token]", token)  # the UI asks for a token on a 401
    with tab.expect_navigation():
        tab.press("#token-dialog input[name=token]", "Enter")
    tab.wait_for_selector("main[data-loaded='1']")
    return context, tab


def test_a_read_token_sees_no_action_buttons(browser, token_server):
    run = _new_run(token_server.url, "lab/done", token="w-token")
    url = f"{token_server.url}/runs/{run['id']}"
    context, tab = _with_token(browser, url, "r-token")
    assert tab.locator(".run-head h1").inner_text() == "lab/done"
    assert _actions(tab) == []
    context.close()
    context, tab = _with_token(browser, url, "w-token")
    tab.wait_for_selector("[data-action]")
    assert _actions(tab) == ["edit", "retry", "replay", "archive"]
    context.close()
