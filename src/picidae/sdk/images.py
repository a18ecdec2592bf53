"""Images for ``log_image``: a PIL image, a NumPy array or a path, stored as PNG.

``prepare`` runs on the caller's thread: it checks the image (a wrong shape or value range
raises at once) and takes a copy, so the caller may change or reuse its buffer right after.
The returned function encodes the PNG later, on a background thread.

Arrays are encoded here with zlib (no Pillow needed): ``HxW`` (grey), ``HxWx1``, ``HxWx2``
(grey + alpha), ``HxWx3`` (RGB) or ``HxWx4`` (RGBA); ``uint8`` as is, ``bool`` as 0/255,
floats in [0, 1] scaled to 0–255, other integers in 0–255. A path to a PNG is stored as it
is; other formats and PIL images need Pillow (``pip install 'picidae[images]'``).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

from picidae.errors import InvalidInput, MissingDependency

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}

Encoder = Callable[[], tuple[bytes, dict[str, Any]]]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def encode_png(pixels: Any) -> bytes:
    """A PNG of a ``uint8`` array ``HxW`` or ``HxWxC`` (C in 1–4). Every row uses the "Up"
    filter, which compresses photographs and plots far better than none, at numpy speed."""
    import numpy as np

    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(height, width * channels)
    filtered = np.empty((height, width * channels + 1), dtype=np.uint8)
    filtered[:, 0] = 2
    filtered[:, 1:] = rows
    if height > 1:
        filtered[1:, 1:] -= rows[:-1]  # uint8 arithmetic wraps modulo 256, as PNG wants

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + tag + body
                + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return (PNG_SIGNATURE + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6)) + chunk(b"IEND", b""))


def _array_to_uint8(arr: Any) -> Any:
    import numpy as np

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        hint = " (channels first? use arr.transpose(1, 2, 0))" \
            if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) else ""
        raise InvalidInput(f"an image array must be HxW, HxWx3 or HxWx4; got shape "
                           f"{tuple(arr.shape)}{hint}", field="image")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInput(f"an image array must not be empty; got shape {tuple(arr.shape)}",
                           field="image")
    if arr.dtype == np.uint8:
        return np.array(arr, copy=True)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InvalidInput("a float image array holds NaN or infinite values",
                               field="image")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidInput(f"a float image array must hold values in [0, 1]; got "
                               f"{lo:g}..{hi:g} (pass uint8, or divide by 255)", field="image")
        return np.rint(arr * 255.0).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise InvalidInput(f"an integer image array must hold values in 0..255; got "
                               f"{lo}..{hi}", field="image")
        return arr.astype(np.uint8)
    raise InvalidInput(f"an image array must be uint8, bool, integer or float; got "
                       f"{arr.dtype}", field="image")


def _is_pil(image: Any) -> bool:
    return type(image).__module__.startswith("PIL.") and hasattr(image, "save") \
        and hasattr(image, "mode")


def _pil_encoder(image: Any) -> Encoder:
    copy = image.copy()
    copy.load()

    def encode() -> tuple[bytes, dict[str, Any]]:
        img = copy
        if img.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
            img = img.convert("RGBA" if "A" in img.mode else "RGB")
        buf = BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue(), {"width": img.width, "height": img.height, "mode": img.mode,
                                "format": "png"}

    return encode


def _path_encoder(path: Path) -> Encoder:
    with open(path, "rb") as f:
        is_png = f.read(8) == PNG_SIGNATURE
    if not is_png:
        try:
            from PIL import Image
        except ImportError as exc:
            raise MissingDependency("pillow", "images") from exc

    def encode() -> tuple[bytes, dict[str, Any]]:
        if is_png:
            data = path.read_bytes()
            width, height = png_size(data)
            return data, {"width": width, "height": height, "format": "png",
                          "source": path.name}
        with Image.open(path) as img:
            img.load()
            png, meta = _pil_encoder(img)()
        return png, {**meta, "source": path.name}

    return encode


def prepare(image: Any) -> Encoder:
    """Check ``image`` now and return a function that makes its PNG (bytes, metadata)."""
    if isinstance(image, str | os.PathLike):
        path = Path(image).expanduser()
        if not path.is_file():
            raise InvalidInput(f"log_image: no such image file: {path}", field="image")
        return _path_encoder(path)
    if _is_pil(image):
        return _pil_encoder(image)
    if hasattr(image, "__array_interface__") or hasattr(image, "__array__"):
        import numpy as np

        pixels = _array_to_uint8(np.asarray(image))

        def encode() -> tuple[bytes, dict[str, Any]]:
            channels = 1 if pixels.ndim == 2 else pixels.shape[2]
            return encode_png(pixels), {"width": int(pixels.shape[1]),
                                        "height": int(pixels.shape[0]),
                                        "channels": channels, "format": "png"}

        return encode
    raise InvalidInput(f"log_image takes a PIL image, a NumPy array or a file path; got "
                       f"{type(image).__name__}", field="image")
