"""No console errors on any page, every view of it included (sorted, grouped, filtered), also
under a strict Content-Security-Policy (no inline script or style in the pages)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: "
              "blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
              "frame-ancestors 'none'")


def every_page(server: Any) -> list[str]:
    runs = server.api("/api/v1/runs", tag="demo", limit=100)["runs"]
    parents = [r for r in runs if r["parent_id"] is None]
    sweep = ",".join(r["id"] for r in runs if r["name"].startswith("cv/resnet18-sweep/"))
    sweep_parent = next(r["id"] for r in runs if r["name"] == "cv/resnet18-sweep")
    return [
        "/", "/?order_by=best", "/?order_by=best%20asc", "/?group_by=config.lr",
        "/?group_by=tags&top=0", "/?where=" + quote('tags contains "sweep"'),
        "/history", "/history?days=90", "/compare", f"/compare?ids={sweep}",
        f"/compare?ids={sweep}&group_by=config.lr", f"/compare?ids={sweep}&group_by=kind",
        f"/runs/{sweep_parent}?group_by=config.batch_size",
        *[f"/runs/{r['id']}" for r in runs], *[f"/runs/{r['id']}?group_by=kind" for r in parents],
    ]


def test_no_console_errors_on_any_page_under_a_strict_csp(page, demo_server):
    def with_csp(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response,
                      headers={**response.headers, "content-security-policy": STRICT_CSP})

    page.route(lambda url: "/api/" not in url and "/static/" not in url, with_csp)
    for path in every_page(demo_server):
        page.goto(demo_server.url + path)
        page.wait_for_selector('main[data-loaded="1"]')
        page.wait_for_timeout(200)
        assert page.console.take() == [], path
