"""``log_image``: PIL images, NumPy arrays and paths, stored as PNG tied to a step."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import picidae
from picidae.sdk.images import encode_png

QUIET = {"capture_env": False, "capture_git": False}


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return np.asarray(img)


def test_log_image_from_pil_and_numpy(store_dir: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    grey_float = rng.random((10, 12))
    rgba = rng.integers(0, 256, size=(8, 8, 4), dtype=np.uint8)
    pil = Image.fromarray(rgb)

    run = picidae.init("images", store=store_dir, **QUIET)
    run.log(loss=1.0, step=4)
    run.log_image("samples/pil", pil, caption="a PIL image")  # the latest step: 4
    run.log_image("samples/rgb", rgb, step=10)
    run.log_image("samples/grey", grey_float, step=10)
    run.log_image("samples/rgba", rgba, step=11)
    rgb[:] = 0  # the array was copied at the call: changing it now changes nothing
    run.finish()

    arts = {a["name"]: a for a in picidae.get_run(run.id, store=store_dir).artifacts()}
    assert set(arts) == {"samples/pil", "samples/rgb", "samples/grey", "samples/rgba"}
    assert all(a["kind"] == "image" and a["type"] == "image" for a in arts.values())
    assert arts["samples/pil"]["step"] == 4 and arts["samples/pil"]["caption"] == "a PIL image"
    assert arts["samples/rgb"]["step"] == 10 and arts["samples/rgba"]["step"] == 11
    assert arts["samples/rgb"]["metadata"]["width"] == 32
    assert arts["samples/rgb"]["metadata"]["height"] == 24

    expected_rgb = np.random.default_rng(0).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    assert np.array_equal(_decode(arts["samples/pil"].read_bytes()), expected_rgb)
    assert np.array_equal(_decode(arts["samples/rgb"].read_bytes()), expected_rgb)
    assert np.array_equal(_decode(arts["samples/grey"].read_bytes()),
                          np.rint(grey_float * 255).astype(np.uint8))
    assert np.array_equal(_decode(arts["samples/rgba"].read_bytes()), rgba)


def test_log_image_from_a_png_path_keeps_the_file(tmp_path: Path, store_dir: Path) -> None:
    path = tmp_path / "plot.png"
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8)
    path.write_bytes(encode_png(pixels))
    run = picidae.init("png-path", store=store_dir, **QUIET)
    run.log_image("plots/loss", path, step=3).log_image("plots/loss", pixels.T, step=5)
    run.finish()
    rv = picidae.get_run(run.id, store=store_dir)
    first = rv.artifact("plots/loss", step=3)
    assert first.read_bytes() == path.read_bytes()
    assert first["metadata"]["width"] == 8
    assert np.array_equal(_decode(rv.artifact("plots/loss").read_bytes()), pixels.T)


def test_encoder_handles_every_channel_count() -> None:
    rng = np.random.default_rng(1)
    for shape in [(5, 7), (5, 7, 2), (5, 7, 3), (5, 7, 4), (1, 1), (300, 1, 3)]:
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        assert np.array_equal(_decode(encode_png(pixels)), pixels), shape


@pytest.mark.parametrize("image, message", [
    (np.zeros((3, 8, 8)), "transpose"),
    (np.zeros((4, 4, 5)), "HxW"),
    (np.zeros((2, 2, 2, 3)), "HxW"),
    (np.full((4, 4), 255.0), r"\[0, 1\]"),
    (np.full((4, 4), np.nan), "NaN"),
    (np.full((4, 4), 300, dtype=np.int32), "0..255"),
    (np.zeros((0, 4), dtype=np.uint8), "empty"),
    ("no/such/image.png", "no such image"),
    (42, "PIL image"),
])
def test_bad_images_raise_at_once(image: object, message: str, store_dir: Path) -> None:
    run = picidae.init("bad-images", store=store_dir, **QUIET)
    with pytest.raises(picidae.InvalidInput, match=message):
        run.log_image("x", image)
    with pytest.raises(picidae.InvalidInput):
        run.log_image("../x", np.zeros((2, 2), dtype=np.uint8))
    run.finish()
    assert picidae.get_run(run.id, store=store_dir).artifacts() == []
