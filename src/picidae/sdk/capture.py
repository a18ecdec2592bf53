"""Reproducibility capture: what a run needs to be audited or run again.

Cheap facts are read at ``init`` and go into the new record: the command line, the
environment (Python, platform, hostname, CPU count and model, memory, chosen environment
variables with secrets redacted) and the container image. Slow facts are gathered by the
run's background jobs and written as one field update: installed packages (``{name:
version}``), GPUs (through NVML, when ``pynvml`` is importable) and git (commit, branch,
remote, dirty flag; the uncommitted diff as the artifact ``code/git.diff``). Slow facts are
computed once per process (git once per working folder), so the second run of a process pays
nothing.

``snapshot_code=True`` archives the workspace (``code/snapshot.tar.gz``): in a git repository
the files ``git ls-files -co --exclude-standard`` lists (tracked and untracked, minus what
.gitignore excludes); elsewhere the working folder minus the usual clutter and the patterns
of its top-level .gitignore. Size and file-count limits are checked before the run exists.
"""

from __future__ import annotations

import fnmatch
import functools
import gzip
import os
import platform
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picidae.errors import InvalidInput

#: Environment variables whose names start with one of these are recorded.
ENV_PREFIXES = (
    "PICIDAE_", "CUDA_", "NVIDIA_", "NCCL_", "CUDNN_", "OMP_", "MKL_", "OPENBLAS_", "TORCH",
    "PYTORCH_", "TF_", "JAX_", "XLA_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "SLURM_", "PBS_",
    "LSB_", "KUBERNETES_", "CONDA_", "VIRTUAL_ENV", "PYTHON", "AWS_", "LD_LIBRARY_PATH",
    "LANG", "LC_ALL", "TZ",
)
#: A recorded variable whose name matches this has its value replaced by ``***``.
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|AUTH|PRIVATE|SESSION",
                         re.IGNORECASE)
REDACTED = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*):[^@/\s]*@")

DIFF_ARTIFACT = "code/git.diff"
SNAPSHOT_ARTIFACT = "code/snapshot.tar.gz"
MAX_DIFF_BYTES = 10 * 1024 * 1024
GIT_TIMEOUT_S = 20

# Folders never worth snapshotting outside a git repository.
_CLUTTER = {".git", ".hg", ".svn", ".venv", "venv", "env", "__pycache__", "node_modules",
            ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".ipynb_checkpoints",
            ".picidae", "build", "dist", ".eggs"}


def command() -> list[str]:
    """The argv that started this process (the interpreter first)."""
    return [sys.executable, *sys.argv] if sys.argv and sys.argv[0] else [sys.executable]


def mask_secrets_in_url(value: str) -> str:
    """``value`` with any ``scheme://user:password@`` password replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{REDACTED}@", value)


def variables(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The recorded environment variables (see ``ENV_PREFIXES``), secrets redacted."""
    if environ is None:
        return _process_variables()
    out = {}
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIXES):
            continue
        value = environ[name]
        out[name] = REDACTED if SECRET_NAME.search(name) else mask_secrets_in_url(value)
    return out


_variables_seen: tuple[dict[object, object], dict[str, str]] | None = None


def _process_variables() -> dict[str, str]:
    """``variables()`` of this process, recomputed only when ``os.environ`` changed (its own
    dict compared in C: every run of a sweep would otherwise scan and redact them all)."""
    global _variables_seen
    raw = getattr(os.environ, "_data", None)
    seen = _variables_seen
    if seen is not None and raw is not None and raw == seen[0]:
        return dict(seen[1])
    found = variables(dict(os.environ))
    if isinstance(raw, dict):
        _variables_seen = (dict(raw), found)
    return dict(found)


@functools.cache
def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None


@functools.cache
def _cpu_count() -> int | None:
    """``os.cpu_count()``, read once per process (on Linux it opens and parses a file under
    ``/sys`` on every call: most of the environment's cost for each run of a sweep)."""
    return os.cpu_count()


@functools.cache
def _hostname() -> str:
    """``socket.gethostname()``, read once per process (a process does not move between
    hosts; the call releases the GIL, which costs a new run its turn while another thread
    of the process works: see ``core/ids.py``)."""
    return socket.gethostname()


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def environment() -> dict[str, Any]:
    """The cheap environment facts (see the module docstring)."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "hostname": _hostname(),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "executable": sys.executable,
        "cpu_count": _cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": _memory_bytes(),
        "variables": variables(),
    }


def container_image(image: str | None = None) -> dict[str, Any] | None:
    """The container this process runs in, if any: ``runtime``, image ``name`` and
    ``digest`` (from ``PICIDAE_IMAGE``, ``name@sha256:...``, which launchers set, or what the
    runtime tells: podman's ``/run/.containerenv``). ``None`` outside a container."""
    runtime, name, digest = _container()
    if image:
        name, _, tail = image.partition("@")
        digest = tail or digest
    if runtime is None and not image:
        return None
    return {"runtime": runtime, "name": name or None, "digest": digest}


_container_seen: tuple[str | None, tuple[str | None, str | None, str | None]] | None = None


def _container() -> tuple[str | None, str | None, str | None]:
    """``(runtime, image name, digest)`` as the runtime tells them, read once per process
    (a process does not move between containers; ``KUBERNETES_SERVICE_HOST`` is re-read)."""
    global _container_seen
    kube = os.environ.get("KUBERNETES_SERVICE_HOST") or None
    seen = _container_seen
    if seen is not None and seen[0] == kube:
        return seen[1]
    runtime = None
    name = digest = None
    if Path("/run/.containerenv").exists():
        runtime = "podman"
        try:
            text = Path("/run/.containerenv").read_text()
            found = dict(re.findall(r'^(\w+)="(.*)"$', text, re.MULTILINE))
            name = found.get("image") or None
            digest = found.get("imageid") or None
        except OSError:
            pass
    elif Path("/.dockerenv").exists():
        runtime = "docker"
    elif kube:
        runtime = "kubernetes"
    else:
        try:
            cgroup = Path("/proc/1/cgroup").read_text()
        except OSError:
            cgroup = ""
        for word in ("kubepods", "docker", "containerd", "lxc"):
            if word in cgroup:
                runtime = word
                break
    _container_seen = (kube, (runtime, name, digest))
    return runtime, name, digest


# -- slow facts (run in the background, cached per process) ------------------------------

_cache_lock = threading.Lock()
_git_cache: dict[str, tuple[dict[str, Any] | None, bytes]] = {}
_packages_cache: list[tuple[str, str]] | None = None
_gpus_cache: tuple[list[dict[str, Any]] | None] | None = None


def clear_cache() -> None:
    """Forget what was captured (tests that change a repository use it)."""
    global _packages_cache, _gpus_cache
    with _cache_lock:
        _git_cache.clear()
        _packages_cache = None
        _gpus_cache = None


def packages_ready() -> bool:
    """Whether packages and GPUs were captured already in this process (so a new run can
    record them at once, without a background job)."""
    return _packages_cache is not None and _gpus_cache is not None


def _where(cwd: Path | None) -> str:
    """The real path of ``cwd`` (default: the working folder), the git cache's key. The
    working folder's is ``os.getcwd()`` itself: the kernel gives it without symbolic links,
    so resolving it again (a ``lstat`` per component, in Python) on every run is skipped."""
    return os.getcwd() if cwd is None else str(cwd.resolve())


def git_ready(cwd: Path | None = None) -> bool:
    """Whether the git state of ``cwd`` was captured already and has no diff to upload."""
    found = _git_cache.get(_where(cwd))
    return found is not None and not found[1]


def git_cached(where: str | None = None) -> tuple[dict[str, Any] | None, bytes] | None:
    """What ``git_state`` captured already for the folder whose real path is ``where``
    (default: the working folder), or ``None`` when it has not been captured. A new run
    passes the working folder its environment recorded: one ``getcwd`` per run, not three
    (each releases the GIL, see ``core/ids.py``)."""
    return _git_cache.get(os.getcwd() if where is None else where)


_versions: tuple[list[tuple[str, str]] | None, dict[str, str]] | None = None


def package_versions() -> dict[str, str]:
    """``dict(packages())`` as a new dict, copied from one the process keeps for its cached
    packages (a dict's copy costs a tenth of building it from the pairs)."""
    global _versions
    if _packages_cache is None:
        packages()
    with _cache_lock:
        pairs, seen = _packages_cache, _versions
        if seen is None or seen[0] is not pairs:
            seen = _versions = (pairs, dict(pairs or ()))
    return dict(seen[1])


def packages() -> list[tuple[str, str]]:
    """Installed distributions as sorted ``(name, version)`` pairs."""
    global _packages_cache
    with _cache_lock:
        if _packages_cache is None:
            from importlib.metadata import distributions

            found: dict[str, tuple[str, str]] = {}
            for dist in distributions():
                name, version = name_version(dist)
                if name:
                    found.setdefault(name.lower(), (name, version))
            _packages_cache = sorted(found.values(), key=lambda p: p[0].lower())
        return list(_packages_cache)


def name_version(dist: Any) -> tuple[str | None, str]:
    """A distribution's ``Name`` and ``Version`` headers, as ``dist.metadata`` gives them.

    Read from the head of its metadata file, by the email parser's own rule for what a header
    line is: ``dist.metadata`` parses the whole file, twice for name and version (~6 ms a
    distribution, over a second for a few hundred on a loaded machine, which the first run's
    ``finish`` waits for). A head this reading is not sure of (``name:`` spelled otherwise, a
    folded name or version) takes the full parse."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or dist.read_text("")
    found: dict[str, str] = {}
    last = ""
    for line in (text or "").split("\n"):
        line = line.rstrip("\r")
        if line[:1] in (" ", "\t"):  # a folded line continues the header before it
            if last in _NAME_VERSION:
                found.clear()
                break
            continue
        if not _HEADER.match(line):
            break  # a blank line (or anything else) ends the headers
        last = line[:line.find(":")].lower()
        if last in _NAME_VERSION:
            field, value = line.split(":", 1)
            if field not in ("Name", "Version"):
                found.clear()  # spelled otherwise: the parser's case-blind match decides
                break
            found.setdefault(field, value.lstrip(" \t"))
    if found.get("Name") and found.get("Version"):
        return found["Name"], found["Version"]
    meta = dist.metadata
    return (meta["Name"], dist.version) if meta else (None, "")


#: A header line, as ``email.feedparser`` tells one (its ``headerRE`` without the folded
#: and ``From `` cases, which ``name_version`` handles).
_HEADER = re.compile(r"[\041-\071\073-\176]*:")
_NAME_VERSION = ("name", "version")


def gpus() -> list[dict[str, Any]] | None:
    """GPUs seen by NVML (``pynvml``): name, memory, UUID, driver; ``None`` when NVML is not
    importable or finds no driver."""
    global _gpus_cache
    with _cache_lock:
        if _gpus_cache is None:
            _gpus_cache = (_read_gpus(),)
        return _gpus_cache[0]


def _read_gpus() -> list[dict[str, Any]] | None:
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            out.append({
                "index": i,
                "name": name.decode() if isinstance(name, bytes) else name,
                "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                "uuid": uuid.decode() if isinstance(uuid, bytes) else uuid,
                "driver": driver.decode() if isinstance(driver, bytes) else driver,
            })
        return out
    except Exception:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True,
                              timeout=GIT_TIMEOUT_S, stdin=subprocess.DEVNULL,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0",
                                   "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):
        return None


def _git_text(args: list[str], cwd: Path) -> str | None:
    proc = _git(args, cwd)
    if proc is None or proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace").strip() or None


def git_root(cwd: Path | None = None) -> Path | None:
    """The top folder of the git working tree ``cwd`` is in, or ``None``."""
    top = _git_text(["rev-parse", "--show-toplevel"], cwd or Path.cwd())
    return Path(top) if top else None


def git_state(cwd: Path | None = None) -> tuple[dict[str, Any] | None, bytes]:
    """``({root, commit, branch, remote, dirty}, diff)`` for the repository ``cwd`` is in
    (``(None, b"")`` outside one). The diff is ``git diff HEAD``: staged and unstaged
    changes to tracked files (untracked files are in the code snapshot, not the diff)."""
    key = _where(cwd)
    with _cache_lock:
        if key in _git_cache:
            return _git_cache[key]
    result = _read_git(Path(key))
    with _cache_lock:
        _git_cache[key] = result
    return result


def _read_git(cwd: Path) -> tuple[dict[str, Any] | None, bytes]:
    root = git_root(cwd)
    if root is None:
        return None, b""
    commit = _git_text(["rev-parse", "--verify", "-q", "HEAD"], root)
    branch = _git_text(["symbolic-ref", "-q", "--short", "HEAD"], root)
    remote = _git_text(["config", "--get", "remote.origin.url"], root)
    status = _git(["status", "--porcelain", "--untracked-files=normal"], root)
    dirty = bool(status.stdout.strip()) if status is not None and status.returncode == 0 \
        else None
    diff = b""
    if commit and dirty:
        proc = _git(["diff", "HEAD", "--binary", "--no-color", "--no-ext-diff"], root)
        if proc is not None and proc.returncode == 0:
            diff = proc.stdout
    state = {"root": str(root), "commit": commit, "branch": branch,
             "remote": mask_secrets_in_url(remote) if remote else None, "dirty": dirty}
    return state, diff


# -- code snapshots ----------------------------------------------------------------------

@dataclass
class Workspace:
    """The files a code snapshot takes: ``root``, ``(relative path, absolute path)`` pairs,
    their total size and how they were listed (``git`` or ``walk``)."""

    root: Path
    files: list[tuple[str, Path]]
    total_bytes: int
    listed_by: str


def _ignore_patterns(root: Path) -> list[str]:
    try:
        lines = (root / ".gitignore").read_text().splitlines()
    except OSError:
        return []
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("#", "!"))]


def _ignored(rel: str, is_dir: bool, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        if pattern.endswith("/"):
            if not is_dir:
                continue
            pattern = pattern.rstrip("/")
        anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
        pattern = pattern.lstrip("/")
        if fnmatch.fnmatchcase(rel if anchored else name, pattern):
            return True
    return False


def list_workspace(cwd: Path | None = None) -> Workspace:
    """The files of the workspace ``cwd`` is in (see the module docstring)."""
    where = (cwd or Path.cwd()).resolve()
    root = git_root(where)
    files: list[tuple[str, Path]] = []
    if root is not None:
        proc = _git(["ls-files", "-co", "--exclude-standard", "-z"], root)
        if proc is None or proc.returncode != 0:
            raise InvalidInput(f"snapshot_code: 'git ls-files' failed in {root}",
                               field="snapshot_code")
        for rel in sorted(set(proc.stdout.decode("utf-8", "replace").split("\0"))):
            full = root / rel
            if rel and full.is_file():
                files.append((rel, full))
        listed_by = "git"
    else:
        root = where
        patterns = _ignore_patterns(root)
        for folder, dirs, names in os.walk(root):
            base = Path(folder)
            rel_base = base.relative_to(root).as_posix()
            prefix = "" if rel_base == "." else rel_base + "/"
            dirs[:] = sorted(d for d in dirs if d not in _CLUTTER
                             and not _ignored(prefix + d, True, patterns))
            for name in sorted(names):
                rel = prefix + name
                full = base / name
                if name.endswith((".pyc", ".pyo")) or _ignored(rel, False, patterns):
                    continue
                if full.is_file():
                    files.append((rel, full))
        listed_by = "walk"
    total = 0
    for _, full in files:
        try:
            total += full.stat().st_size
        except OSError:
            pass
    return Workspace(root, files, total, listed_by)


def check_snapshot_limits(ws: Workspace, max_mb: float, max_files: int) -> None:
    """``InvalidInput`` naming the limit and how to raise it, when ``ws`` is over one."""
    if len(ws.files) > max_files:
        raise InvalidInput(
            f"snapshot_code: the workspace {ws.root} has {len(ws.files)} files, over the limit "
            f"of {max_files}; exclude files with .gitignore, or raise the limit with "
            "PICIDAE_SNAPSHOT_MAX_FILES or picidae.init(snapshot_max_files=N)",
            field="snapshot_max_files")
    if ws.total_bytes > max_mb * 1024 * 1024:
        raise InvalidInput(
            f"snapshot_code: the workspace {ws.root} holds {ws.total_bytes / 1048576:.1f} MB, "
            f"over the limit of {max_mb:g} MB; exclude files with .gitignore, or raise the "
            "limit with PICIDAE_SNAPSHOT_MAX_MB or picidae.init(snapshot_max_mb=N)",
            field="snapshot_max_mb")


def write_snapshot(ws: Workspace, dest: Path) -> None:
    """A gzipped tar of the workspace's files at ``dest``. Times and owners are zeroed so the
    same files always make the same archive (stored once however many runs take it)."""
    with open(dest, "wb") as raw, \
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0,
                          compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for rel, full in ws.files:
            try:
                info = tar.gettarinfo(str(full), arcname=rel)
            except OSError:
                continue  # removed since it was listed
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isreg():
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def snapshot_file(ws: Workspace) -> Path:
    """Write the snapshot to a temporary file (the caller removes it)."""
    fd, name = tempfile.mkstemp(prefix="picidae-snapshot-", suffix=".tar.gz")
    os.close(fd)
    write_snapshot(ws, Path(name))
    return Path(name)
