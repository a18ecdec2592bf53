"""A real single-node Slurm cluster for tests: munged, slurmctld and slurmd (Debian's
``slurm-wlm``), as root, in a temporary folder with a ``slurm.conf`` written here.

Skips with the reason where Slurm is not installed or we are not root — unless CI=true,
where it must run (scripts/test installs ``slurm-wlm`` there)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the Slurm tests must run in CI, but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SlurmCluster:
    """The daemons of a one-node cluster in ``root``; ``conf`` is its ``slurm.conf``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.node = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        self.memory_mb = int(pages / 2**20 * 0.9)
        self.conf = root / "slurm.conf"
        self.pids: list[Path] = []

    def _write(self) -> None:
        r = self.root
        for sub in ("state", "spool", "log"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        key = r / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.conf.write_text(f"""\
ClusterName=picidae
SlurmctldHost={self.node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={r}/munge.sock
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=60
KillWait=2
OverTimeLimit=0
InactiveLimit=0
SlurmctldTimeout=10
SlurmdTimeout=10
MessageTimeout=5
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} \
State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")

    def start(self) -> None:
        """Start munged, slurmctld and slurmd; wait until the node is idle."""
        self._write()
        r = self.root
        env = {**os.environ, "SLURM_CONF": str(self.conf)}
        steps = [
            (["munged", "--force", f"--socket={r}/munge.sock", f"--key-file={r}/munge.key",
              f"--pid-file={r}/munged.pid", f"--log-file={r}/log/munged.log",
              f"--seed-file={r}/munge.seed"], r / "munged.pid"),
            (["slurmctld", "-f", str(self.conf)], r / "slurmctld.pid"),
            (["slurmd", "-f", str(self.conf), "-N", self.node], r / "slurmd.pid"),
        ]
        for argv, pid_file in steps:
            subprocess.run(argv, env=env, check=True, timeout=30, capture_output=True)
            self.pids.append(pid_file)
        deadline = time.time() + 30
        while time.time() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True,
                                 text=True, timeout=10)
            if out.stdout.strip() == "idle":
                return
            time.sleep(0.3)
        raise RuntimeError(f"the Slurm node did not come up: {out.stdout} {out.stderr}")

    def stop(self) -> None:
        """Stop the daemons (slurmd, slurmctld, munged) and wait for them to go."""
        for pid_file in reversed(self.pids):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)


def start_cluster(root: Path) -> SlurmCluster:
    """A started cluster, or skip (fail under CI=true) with the reason."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        _unavailable(f"Slurm is not installed (missing {', '.join(missing)}; "
                     "apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        _unavailable("the Slurm test cluster runs its daemons as root")
    cluster = SlurmCluster(root)
    try:
        cluster.start()
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        cluster.stop()
        _unavailable(f"could not start a Slurm cluster: {exc}")
    return cluster
