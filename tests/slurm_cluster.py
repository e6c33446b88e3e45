"""A throwaway single-node, CPU-only Slurm cluster for the `slurm` test tier: munged + slurmctld + slurmd from
Debian's slurm-wlm / munge, configured by a generated slurm.conf inside one directory, every daemon a child of
the test process, and every process (daemons, job steps) gone after stop()."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")


def missing_binaries() -> list[str]:
    return [b for b in (*DAEMONS, "sbatch", "squeue", "scancel", "sinfo") if shutil.which(b) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    """`with SlurmCluster(dir) as c:` starts the cluster; `c.env` is the environment that points the Slurm
    client commands (sbatch, squeue, scancel) at it."""

    def __init__(self, root: Path, cpus: int = 2) -> None:
        self.root = Path(root)
        self.cpus = cpus
        self.host = socket.gethostname().split(".")[0]
        self.procs: dict[str, subprocess.Popen] = {}
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # ------------------------------------------------------------------ set-up
    def _write_config(self) -> None:
        r = self.root
        for d in ("state", "spool", "log", "munge"):
            (r / d).mkdir(parents=True, exist_ok=True)
        os.chmod(r / "munge", 0o700)
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        mem = 2048
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=gsnrtest",
                    f"SlurmctldHost={self.host}(127.0.0.1)",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={r / 'munge' / 'munge.socket'}",
                    f"StateSaveLocation={r / 'state'}",
                    f"SlurmdSpoolDir={r / 'spool'}",
                    f"SlurmctldPidFile={r / 'slurmctld.pid'}",
                    f"SlurmdPidFile={r / 'slurmd.pid'}",
                    f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SchedulerType=sched/backfill",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "ReturnToService=2",
                    "MpiDefault=none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "MailProg=/bin/true",
                    "SchedulerParameters=sched_interval=1",
                    "MinJobAge=300",
                    "SlurmctldTimeout=30",
                    "SlurmdTimeout=30",
                    "InactiveLimit=0",
                    "KillWait=2",
                    "SlurmctldDebug=info",
                    "SlurmdDebug=info",
                    f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={mem} State=UNKNOWN",
                    f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def start(self, timeout: float = 60.0) -> "SlurmCluster":
        self._write_config()
        r = self.root
        logs = {n: open(r / "log" / f"{n}.out", "ab") for n in DAEMONS}
        self.procs["munged"] = subprocess.Popen(
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={r / 'munge' / 'munge.socket'}",
                f"--key-file={r / 'munge' / 'munge.key'}",
                f"--pid-file={r / 'munge' / 'munged.pid'}",
                f"--log-file={r / 'log' / 'munged.log'}",
                f"--seed-file={r / 'munge' / 'munged.seed'}",
            ],
            stdout=logs["munged"],
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        self._wait(lambda: (r / "munge" / "munge.socket").exists(), timeout, "munged socket")
        self.procs["slurmctld"] = subprocess.Popen(
            ["slurmctld", "-D", "-c", "-i", "-f", str(self.conf)],
            stdout=logs["slurmctld"],
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        self.procs["slurmd"] = subprocess.Popen(
            ["slurmd", "-D", "-f", str(self.conf)], stdout=logs["slurmd"], stderr=subprocess.STDOUT, env=self.env
        )
        self._wait(self._node_idle, timeout, "an idle node")
        return self

    def _node_idle(self) -> bool:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited ({p.returncode}); see {self.root / 'log'}")
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True, timeout=10
        ).stdout
        return out.strip() == "idle"

    @staticmethod
    def _wait(cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.3)
        raise TimeoutError(f"the test cluster did not come up: no {what} after {timeout:g} s")

    # ------------------------------------------------------------------ use
    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, check=check, timeout=60)

    def queue(self) -> list[tuple[str, str, str]]:
        """(job id, name, state) of every job still known to squeue."""
        out = self.run("squeue", "-h", "-o", "%i|%j|%T").stdout
        return [tuple(line.split("|")) for line in out.splitlines() if line.strip()]

    def wait_idle(self, timeout: float) -> None:
        """Until no job is pending or running."""
        self._wait(lambda: not self.queue(), timeout, "empty queue")

    # ------------------------------------------------------------------ tear-down
    def stop(self) -> None:
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self.run("scancel", "--full", "--user", "root", check=False)
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        for pid in self.leftover_pids():  # job steps slurmd spawned (they are not our children)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def leftover_pids(self) -> list[int]:
        """Live processes of this cluster: a Slurm/munge daemon or job step started with its files, or any
        process running under its SLURM_CONF (the jobs and what they started)."""
        me, marker, env_marker = os.getpid(), str(self.root).encode(), f"SLURM_CONF={self.conf}".encode()
        found = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) == me:
                continue
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0")
                environ = (d / "environ").read_bytes().split(b"\0")
                status = (d / "status").read_text()
            except OSError:
                continue
            if "State:\tZ" in status:
                continue
            daemon = os.path.basename(argv[0].decode(errors="replace")).split(":")[0] in (*DAEMONS, "slurmstepd")
            if (daemon and any(marker in a for a in argv)) or env_marker in environ:
                found.append(int(d.name))
        return found

    def __enter__(self) -> "SlurmCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
