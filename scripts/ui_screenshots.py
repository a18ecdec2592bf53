"""Take the web UI screenshots in docs/screenshots/ (1280×800) from a fresh demo store.

    .venv/bin/python scripts/ui_screenshots.py [--out docs/screenshots]

Needs Chromium at /usr/bin/chromium and the ``playwright`` package (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs"
                                              / "screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="picidae-shots-") as folder:
        store = str(Path(folder) / "store")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
        env["PICIDAE_HOME"] = str(Path(folder) / "home")
        subprocess.run([sys.executable, "-m", "picidae", "demo", "--store", store], env=env,
                       check=True, capture_output=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "picidae", "server", "--store", store,
                                   "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)

            def run_id(name: str) -> str:
                runs = httpx.get(f"{url}/api/v1/runs", params={"name": name}).json()["runs"]
                return str(runs[0]["id"])

            sweep = [run_id(f"cv/resnet18-sweep/lr={lr},bs={bs}") for lr in (0.001, 0.003)
                     for bs in (64, 128)]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)

                def shot(path: str, name: str, theme: str = "light",
                         then: Any = None) -> None:
                    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                                  color_scheme=theme)
                    page = context.new_page()
                    page.goto(url + path)
                    page.wait_for_selector('main[data-loaded="1"]')
                    if then:
                        then(page)
                    page.wait_for_timeout(600)
                    page.screenshot(path=str(out / name))
                    context.close()
                    print(out / name)

                def expand_w2s(page: Any) -> None:
                    page.click('tr[data-name="confidence-reweighting"] button.expander')
                    page.wait_for_selector("tr.stats-row")

                def edit_form(page: Any) -> None:
                    page.click("[data-action=edit]")
                    page.wait_for_selector("form[data-form=edit]")
                    page.fill("form[data-form=edit] textarea[name=notes]",
                              "OOM at step 1,900: retry with gradient checkpointing.")

                shot("/", "runs.png", then=expand_w2s)
                shot(f"/runs/{run_id('lm/gpt-small-pretrain')}", "run.png")
                shot(f"/runs/{run_id('lm/gpt-small-pretrain')}", "run-dark.png", theme="dark")
                shot(f"/runs/{run_id('confidence-reweighting')}", "run-parent.png")
                shot(f"/runs/{run_id('nlp/bert-large-finetune')}", "run-failed.png")
                shot(f"/compare?ids={','.join(sweep)}", "compare.png")

                def to_charts(page: Any) -> None:
                    page.wait_for_selector('[data-chart][data-drawn="1"]')
                    page.locator("#charts").scroll_into_view_if_needed()

                shot(f"/compare?ids={','.join(sweep)}&group_by=config.lr",
                     "compare-grouped.png", then=to_charts)
                shot(f"/runs/{run_id('nlp/bert-large-finetune')}", "run-actions.png",
                     then=edit_form)
                shot("/?prefix=cv/resnet18-sweep&top=0", "runs-tree.png",
                     then=lambda page: page.wait_for_selector("svg[data-sparkline]"))
                shot("/history", "history.png")
                shot("/", "runs-dark.png", theme="dark", then=expand_w2s)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
