"""The web UI: four pages and their static assets.

``/`` runs (``/?where=EXPR`` opens filtered), ``/runs/{id}`` one run, ``/compare?ids=A,B``
and ``/history``. Each page is a small HTML shell (``picidae/ui/templates/page.html``) whose
script module draws it from the HTTP API, so the pages show exactly what the API serves and
need no token themselves (the data requests carry it). Assets live in
``picidae/ui/static`` under ``/static``: our own modules and the vendored chart library
(see ``picidae/ui/vendor.sh``). Nothing here needs Node.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import picidae

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
STATIC_DIR = UI_DIR / "static"

#: Page name → (title, script module, modules it imports besides common.js).
PAGES = {
    "runs": ("Runs", "runs.js", ("runsextras.js",)),
    "run": ("Run", "run.js", ("charts.js", "groups.js", "artifacts.js", "runlog.js",
                            "actions.js", "trials.js", "sweep.js")),
    "compare": ("Compare", "compare.js", ("charts.js", "groups.js", "sweep.js")),
    "history": ("History", "history.js", ()),
}


class _Static(StaticFiles):
    """Static files the browser revalidates each load (cheap with ETags), so an upgraded
    Picidae never runs yesterday's scripts."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


@cache
def _template() -> Template:
    return Template((UI_DIR / "templates" / "page.html").read_text(encoding="utf-8"))


#: The pages' Content-Security-Policy: scripts, styles, fonts and data only from this origin
#: (the boot data is a JSON script, never run; the theme script is a file); images also from
#: ``data:``/``blob:`` URLs (chart exports); no plugins, frames, foreign forms or ``<base>``;
#: no inline style either (the pages style elements through the CSSOM only).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
       "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "frame-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

#: Headers of every page.
PAGE_HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def render(app: FastAPI, page: str, **boot: Any) -> HTMLResponse:
    """The HTML shell of ``page`` with its boot data (read by the page's script)."""
    title, script, imports = PAGES[page]
    # Every server has the artifacts API (routes/artifacts.py), so the pages call it directly:
    # no probing of app.routes, whose shape changes between FastAPI versions.
    data = {"page": page, "version": picidae.__version__, **boot}
    # Inside <script>, "</" would end the element: JSON escapes it harmlessly.
    text = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e")
    # Preloading the imported modules fetches them alongside the page's own, not after it.
    preload = "".join(f'\n<link rel="modulepreload" href="/static/js/{name}">'
                      for name in imports)
    html = _template().substitute(title=boot.get("title") or title, static="/static",
                                  script=script, boot=text, preload=preload)
    return HTMLResponse(html, headers=PAGE_HEADERS)


def install(app: FastAPI) -> None:
    """Mount the UI pages and ``/static`` on ``app``."""
    app.mount("/static", _Static(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def runs_page(request: Request) -> HTMLResponse:
        return render(app, "runs", where=request.query_params.get("where", ""))

    @app.get("/runs/{run_id}", include_in_schema=False)
    def run_page(run_id: str) -> HTMLResponse:
        return render(app, "run", run_id=run_id)

    @app.get("/compare", include_in_schema=False)
    def compare_page(request: Request) -> HTMLResponse:
        ids = [i for i in request.query_params.get("ids", "").split(",") if i.strip()]
        return render(app, "compare", ids=ids)

    @app.get("/history", include_in_schema=False)
    def history_page() -> HTMLResponse:
        return render(app, "history")
