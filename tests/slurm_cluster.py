"""A one-node Slurm cluster from Debian's packages (munge, slurmctld, slurmd, slurm-client), for tests.

Everything lives in one folder: its own munge socket, ports, state and logs, so it disturbs no
other Slurm or munge on the machine. :func:`missing` says why a cluster cannot start here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
MUNGE_KEY = Path("/etc/munge/munge.key")


def missing() -> str | None:
    """Why no cluster can start here (None when it can)."""
    absent = [t for t in TOOLS if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]
    if absent:
        return (f"Slurm is not installed ({', '.join(absent)} missing): `make slurm` installs Debian's munge, "
                "slurmctld, slurmd and slurm-client (as root)")
    if os.geteuid() != 0:
        return "the one-node Slurm cluster runs its daemons as root; this test runs as another user"
    if not MUNGE_KEY.is_file():
        return f"{MUNGE_KEY} is missing (the munge package creates it)"
    return None


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Start with :meth:`start`, stop with :meth:`stop` (only the processes it started)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_conf(self) -> None:
        host = socket.gethostname()
        sock = self.root / "munge.sock"
        for d in ("state", "spool", "logs"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        cpus = os.cpu_count() or 1
        self.conf.write_text(f"""\
ClusterName=reagtest
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmctldPidFile={self.root}/slurmctld.pid
SlurmdPidFile={self.root}/slurmd.pid
SlurmctldLogFile={self.root}/logs/slurmctld.log
SlurmdLogFile={self.root}/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=2
MinJobAge=600
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
""")

    def start(self, timeout: float = 60) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_conf()
        sock = self.root / "munge.sock"
        self.procs.append(subprocess.Popen(
            [_tool("munged"), "--foreground", "--force", f"--socket={sock}", f"--key-file={MUNGE_KEY}",
             f"--pid-file={self.root}/munged.pid", f"--log-file={self.root}/logs/munged.log",
             f"--seed-file={self.root}/munged.seed"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self._wait(lambda: sock.exists(), timeout, "munged did not create its socket")
        self.procs.append(subprocess.Popen([_tool("slurmctld"), "-D", "-i", "-f", str(self.conf)], env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self.procs.append(subprocess.Popen([_tool("slurmd"), "-D", "-f", str(self.conf)], env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self._wait(self._idle, timeout, "the node did not come up")

    @staticmethod
    def tool(name: str) -> str:
        return _tool(name)

    def _idle(self) -> bool:
        out = self.run("sinfo", "-h", "-o", "%t", check=False)
        return out.strip().startswith("idle")

    def _wait(self, ready, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ready():
                return
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead:
                break
            time.sleep(0.5)
        raise RuntimeError(f"{what} (daemons exited: {dead if dead else 'none'}); logs: {self.logs()}")

    def logs(self) -> str:
        parts = []
        for log in sorted((self.root / "logs").glob("*.log")):
            parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(parts)

    def run(self, tool: str, *args: str, check: bool = True) -> str:
        proc = subprocess.run([_tool(tool), *args], env=self.env, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def job_state(self, job: str) -> str:
        out = self.run("scontrol", "-o", "show", "job", job, check=False)
        for field in out.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return "UNKNOWN"

    def wait_done(self, jobs: list[str], timeout: float) -> dict[str, str]:
        """Wait until every job has ended; their final states."""
        end = time.monotonic() + timeout
        while True:
            states = {j: self.job_state(j) for j in jobs}
            if all(s not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "UNKNOWN") for s in states.values()):
                return states
            if time.monotonic() > end:
                raise RuntimeError(f"jobs still not done after {timeout:.0f} s: {states}; logs: {self.logs()}")
            time.sleep(2)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
