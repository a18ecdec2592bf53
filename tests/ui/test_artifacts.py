"""The run page's artifacts panel and image gallery show what the API lists, whatever FastAPI
version is installed (the page once probed ``app.routes`` for the artifacts API and, on a
FastAPI whose included routers are no longer plain routes, never showed the panel)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

LOGGER = textwrap.dedent("""
    import sys
    import numpy as np
    import picidae

    store, folder = sys.argv[1], sys.argv[2]
    with picidae.init("media/gallery", store=store) as run:
        for step in (0, 5):
            run.log(loss=1.0 / (step + 1), step=step)
            pixels = np.zeros((24, 32, 3), dtype=np.uint8)
            pixels[:, :, step % 3] = 200
            run.log_image("samples", pixels, caption=f"step {step}", step=step)
        path = f"{folder}/model.txt"
        open(path, "w").write("weights")
        run.log_artifact(path, type="checkpoint")
    print(run.id)
""")


# The logger writes to the server's store folder directly (as a run on the same machine does),
# so the run also records its container image.
def test_artifacts_panel_lists_every_artifact_and_draws_the_images(page, demo_server, tmp_path):
    env = {**demo_server.env, "PICIDAE_IMAGE": "registry.example/train:1.0@sha256:abc123"}
    done = subprocess.run([sys.executable, "-c", LOGGER, demo_server.store, str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    listed = demo_server.api(f"/api/v1/runs/{run_id}/artifacts")["artifacts"]
    assert sorted(a["name"] for a in listed) == ["model.txt", "samples", "samples"]

    page.goto(f"{demo_server.url}/runs/{run_id}")
    page.wait_for_selector('main[data-loaded="1"]')
    panel = page.locator("[data-artifacts]")
    panel.locator("[data-artifact]").first.wait_for()
    names = panel.locator("[data-artifact]").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert sorted(names) == ["model.txt", "samples", "samples"]
    # the gallery: one image per key, at its latest step, with a slider over its steps
    image = panel.locator('img[data-image][data-name="samples"]')
    assert image.count() == 1

    def rendered() -> list[Any]:
        page.wait_for_function("""() => [...document.querySelectorAll('img[data-image]')]
            .every(img => img.complete && img.naturalWidth > 0)""")
        return image.evaluate("i => [i.dataset.step, i.naturalWidth, i.naturalHeight,"
                              " i.currentSrc]")

    step, width, height, latest = rendered()
    assert (step, width, height) == ("5", 32, 24)
    slider = panel.locator('input[type="range"][aria-label="Step of samples"]')
    slider.fill("0")
    page.wait_for_function("() => document.querySelector('img[data-image]').dataset.step === '0'")
    step, width, _, first = rendered()
    assert step == "0" and width == 32 and first != latest
    assert "step 0" in panel.locator("figure.image-key figcaption").inner_text()
    # the file downloads with its content
    link = panel.locator('[data-artifact][data-name="model.txt"] a')
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_text() == "weights"

    # Details names the container image instead of "[object Object]"
    image = page.locator('#details [data-section="image"]')
    assert "registry.example/train:1.0" in image.inner_text()
    assert "object Object" not in page.inner_text("#details")
    assert page.console.take() == []
