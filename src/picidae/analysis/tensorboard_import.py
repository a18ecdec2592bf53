"""Importing TensorBoard logs: every folder holding event files (``events.out.tfevents.*``)
is a run, read with ``tensorboard``'s own event reader (``pip install
'picidae[tensorboard]'``).

How it maps: scalars → metric points at their steps (times from the events' wall time);
``add_hparams``'s hyperparameters → config; the run's name is the logs folder's name and the
folder's path under it (``runs/exp1``). Two sub-folders PyTorch's ``SummaryWriter`` writes
beside a run are folded into it, as TensorBoard's users read them: ``add_hparams``'s
time-stamped folder (its hyperparameters → the run's config, its metrics → the run's
metrics), and ``add_scalars("acc", {"train": …})``'s ``acc_train`` folder (→ metric
``acc/train``). Any other folder under a run's folder is a child run. Each run is
``completed``, from its first event to its last.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picidae.analysis.imported import Foreign, safe_name
from picidae.errors import InvalidInput, MissingDependency

_EVENTS = "events.out.tfevents.*"
_TIMESTAMP = re.compile(r"\d+(\.\d+)?")


@dataclass
class _Folder:
    path: Path
    files: list[str]
    scalars: dict[str, list[tuple[int, float, float]]] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    first: float = float("inf")
    last: float = 0.0


def _modules() -> tuple[Any, Any, Any]:
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.plugins.hparams import plugin_data_pb2
        from tensorboard.util import tensor_util
    except ImportError as exc:
        raise MissingDependency("tensorboard", "tensorboard") from exc
    return EventFileLoader, plugin_data_pb2, tensor_util


def _hparams(content: bytes, plugin_data: Any) -> dict[str, Any]:
    data = plugin_data.HParamsPluginData.FromString(content)
    if not data.HasField("session_start_info"):
        return {}
    out: dict[str, Any] = {}
    for name, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        if kind in ("number_value", "string_value", "bool_value"):
            number = getattr(value, kind)
            out[name] = int(number) if kind == "number_value" and number.is_integer() \
                else number
    return out


def intact(file: Path) -> bool:
    """Whether an event file's records (TFRecord framing: an 8-byte length, a 4-byte CRC,
    the data, a 4-byte CRC) end exactly where the file does. TensorBoard's reader stops
    quietly at a broken record; this is how a damaged or truncated file is told apart."""
    data = file.read_bytes()
    i = 0
    while i < len(data):
        if i + 12 > len(data):
            return False
        (length,) = struct.unpack("<Q", data[i:i + 8])
        i += 12 + length + 4
    return i == len(data) and len(data) > 0


def read_folder(path: Path, files: list[Path]) -> _Folder:
    """The scalars and hyperparameters of one folder's event files (``InvalidInput`` when
    one is damaged)."""
    loader, plugin_data, tensor_util = _modules()
    folder = _Folder(path, sorted(f.name for f in files))
    for file in sorted(files):
        if not intact(file):
            raise InvalidInput(f"{file.name} is damaged or truncated", field="source")
        for event in loader(str(file)).Load():
            folder.first = min(folder.first, event.wall_time)
            folder.last = max(folder.last, event.wall_time)
            if event.WhichOneof("what") != "summary":
                continue
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                kind = value.WhichOneof("value")
                if plugin == "hparams":
                    folder.hparams.update(_hparams(value.metadata.plugin_data.content,
                                                   plugin_data))
                elif kind == "simple_value" or (kind == "tensor" and plugin == "scalars"):
                    number = value.simple_value if kind == "simple_value" else float(
                        tensor_util.make_ndarray(value.tensor).item())
                    folder.scalars.setdefault(value.tag, []).append(
                        (int(event.step), number, float(event.wall_time)))
    return folder


def _fold(child: _Folder, parent: _Folder) -> bool:
    """Fold ``add_hparams``' and ``add_scalars``' folders into their run's; ``True`` if so."""
    name = child.path.name
    if child.hparams and _TIMESTAMP.fullmatch(name):
        parent.hparams.update(child.hparams)
        for tag, points in child.scalars.items():
            parent.scalars.setdefault(tag, []).extend(points)
        return True
    if child.scalars and not child.hparams and all(
            name.startswith(tag + "_") for tag in child.scalars):
        for tag, points in child.scalars.items():
            parent.scalars.setdefault(f"{tag}/{name[len(tag) + 1:]}", []).extend(points)
        return True
    return False


def read(source: str | os.PathLike[str]) -> tuple[list[Foreign], list[str]]:
    """The runs of the TensorBoard logs under ``source`` (parents first), and the problems
    of the folders skipped (a damaged event file skips its folder)."""
    root = Path(source).expanduser()
    if root.is_file():
        root = root.parent
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a folder of TensorBoard logs", field="source")
    by_folder: dict[Path, list[Path]] = {}
    for file in sorted(root.rglob(_EVENTS)):
        if file.is_file():
            by_folder.setdefault(file.parent, []).append(file)
    folders: dict[Path, _Folder] = {}
    problems: list[str] = []
    for path, files in sorted(by_folder.items(), key=lambda kv: len(kv[0].parts)):
        try:
            folders[path] = read_folder(path, files)
        except Exception as exc:  # the reader's own errors (DataLoss...) and OS errors
            problems.append(f"{path.relative_to(root).as_posix() or '.'}: {exc}")
    runs: dict[Path, Foreign] = {}
    for path in sorted(folders, key=lambda p: (len(p.parts), str(p))):
        folder = folders[path]
        parent = folders.get(path.parent) if path != root else None
        if parent is not None and _fold(folder, parent):
            continue
        rel = path.relative_to(root).as_posix()
        ancestor = next((runs[p] for p in path.parents if p in runs), None)
        runs[path] = Foreign("tensorboard", folder.files[0],
                             safe_name(root.name, "" if rel == "." else rel),
                             start=folder.first if folder.first != float("inf") else 0.0,
                             end=folder.last or None, tags=["tensorboard"],
                             parent=ancestor.source_id if ancestor else None)
    for path, run in runs.items():
        folder = folders[path]
        run.config = folder.hparams
        run.metrics = folder.scalars
        run.start = min([run.start, *(p[2] for pts in run.metrics.values() for p in pts)])
    return list(runs.values()), problems
