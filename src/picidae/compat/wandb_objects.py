"""The objects ``picidae.compat.wandb`` hands out besides the run: ``Config``, ``Summary``,
``Image`` and ``AlertLevel``, each shaped like W&B's own."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any


class AlertLevel(enum.Enum):
    """W&B's alert levels; ``wandb.alert(level=...)`` takes these or their names."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


def alert_level(level: Any) -> str:
    """A W&B alert level (``AlertLevel.WARN``, ``"WARN"``, ``"warn"``) as Picidae's word."""
    if isinstance(level, AlertLevel):
        level = level.value
    return str(level).lower() if level is not None else "info"


class Image:
    """``wandb.Image(data_or_path, caption=None)``: a PIL image, a numpy array or a file path,
    logged as an image of the run (``run.log_image``) when passed to ``log``."""

    def __init__(self, data_or_path: Any, mode: str | None = None, caption: str | None = None,
                 **_ignored: Any) -> None:
        self.data = data_or_path
        self.mode = mode
        self.caption = caption


class Config:
    """A run's config with W&B's access: ``config.lr``, ``config["lr"]``, ``config.update``.
    Every write is merged into the run's config."""

    def __init__(self, data: Mapping[str, Any], write: Callable[[dict[str, Any]], Any]) -> None:
        object.__setattr__(self, "_data", dict(data))
        object.__setattr__(self, "_write", write)

    def update(self, values: Any = None, allow_val_change: bool | None = None,
               **kwargs: Any) -> None:
        """Merge a dict (or an ``argparse.Namespace``) and keyword values into the config."""
        if values is not None and not isinstance(values, Mapping):
            values = vars(values)
        merged = {**dict(values or {}), **kwargs}
        if merged:
            self._data.update(merged)
            self._write(merged)

    def setdefaults(self, values: Mapping[str, Any]) -> None:
        """Set the keys not set yet."""
        self.update({k: v for k, v in values.items() if k not in self._data})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getattr__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._data.get(key, default)

    def keys(self) -> Any:
        """The config's keys."""
        return self._data.keys()

    def items(self) -> Any:
        """The config's items."""
        return self._data.items()

    def as_dict(self) -> dict[str, Any]:
        """A copy of the config as a plain dict."""
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"


class Summary:
    """A run's summary with W&B's meaning: each key holds the last value logged for it (or
    the best, for a metric given ``define_metric(name, summary="max"|"min")``), unless the
    program set the key itself, which then wins."""

    def __init__(self, write: Callable[[dict[str, Any]], Any]) -> None:
        object.__setattr__(self, "_logged", {})
        object.__setattr__(self, "_set", {})
        object.__setattr__(self, "_best", {})  # key -> "max" | "min"
        object.__setattr__(self, "_write", write)

    def observe(self, values: Mapping[str, float]) -> None:
        """Note logged values (the default summary)."""
        logged, best = self._logged, self._best
        for key, value in values.items():
            mode = best.get(key)
            old = logged.get(key)
            better = old is None or math.isnan(old) or mode is None or (
                value > old if mode == "max" else value < old)
            if better:
                logged[key] = value

    def track(self, key: str, mode: str) -> None:
        """Keep the best (``max``/``min``) value of ``key`` rather than the last."""
        self._best[key] = mode

    def as_dict(self) -> dict[str, Any]:
        """Everything the summary holds: logged values overridden by set ones."""
        return {**self._logged, **self._set}

    def logged_only(self) -> dict[str, Any]:
        """The logged values of keys the program did not set (written at finish)."""
        return {k: v for k, v in self._logged.items() if k not in self._set}

    def update(self, values: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Set keys (they override logged values)."""
        merged = {**dict(values or {}), **kwargs}
        if merged:
            self._set.update(merged)
            self._write(merged)

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getattr__(self, key: str) -> Any:
        try:
            return self.as_dict()[key]
        except KeyError:
            raise AttributeError(f"summary has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __contains__(self, key: object) -> bool:
        return key in self._logged or key in self._set

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self.as_dict().get(key, default)

    def keys(self) -> Any:
        """The summary's keys."""
        return self.as_dict().keys()

    def items(self) -> Any:
        """The summary's items."""
        return self.as_dict().items()

    def __repr__(self) -> str:
        return f"Summary({self.as_dict()!r})"


class Media:
    """W&B's other value types (``Table``, ``Histogram``, ``Html``, ``Video``, ``Audio``,
    ``Object3D``): accepted, so a script runs; ``log`` records each as a log line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class Table(Media):
    """``wandb.Table``: kept as a log line (Picidae has no tables)."""


class Histogram(Media):
    """``wandb.Histogram``: kept as a log line."""


class Html(Media):
    """``wandb.Html``: kept as a log line."""


class Video(Media):
    """``wandb.Video``: kept as a log line."""


class Audio(Media):
    """``wandb.Audio``: kept as a log line."""


class Artifact:
    """``wandb.Artifact(name, type)``: the files and folders added to it become artifacts of
    the run when it is logged (``run.log_artifact(artifact)``)."""

    def __init__(self, name: str, type: str | None = None, description: str | None = None,
                 metadata: Mapping[str, Any] | None = None, **_ignored: Any) -> None:
        self.name = name
        self.type = type
        self.description = description
        self.metadata = dict(metadata or {})
        self.paths: list[tuple[str, str | None]] = []

    def add_file(self, local_path: str, name: str | None = None, **_ignored: Any) -> None:
        """Add a file (named ``name`` inside the artifact)."""
        self.paths.append((local_path, name))

    def add_dir(self, local_path: str, name: str | None = None, **_ignored: Any) -> None:
        """Add a folder (named ``name`` inside the artifact)."""
        self.paths.append((local_path, name))
