"""A real single-node SLURM on localhost, for tests: munged, slurmctld and slurmd from
Debian's `slurm-wlm` and `munge` (installed as root by .ci/system-deps.sh).

slurm.conf goes where every SLURM command looks without help, /etc/slurm/slurm.conf (the
SLURM plugin's job step drops SLURM_* variables, $SLURM_CONF included, before its `srun`), and
is removed afterwards; a slurm.conf that is not ours is never touched (SlurmUnavailable).
State, spool, logs and pid files live in a private directory; the ports are free ones. No
cgroup.conf (slurmd 22.05 fails with `CgroupPlugin=disabled`); no accounting daemon, so no
`sacct`: Snakemake's SLURM plugin polls with squeue (profiles/slurm). munged is shared: started
if none answers. The configuration follows ../shared/research.md ("A real single-node SLURM
on this kind of machine").

    python -m tests.slurm_cluster DIR      # start one by hand; Ctrl-C stops it
"""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")
PARTITION = "engine"
CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# engine test cluster (tests/slurm_cluster.py); removed when the test ends"


class SlurmUnavailable(RuntimeError):
    """SLURM is not installed or could not start (the message says which and why)."""


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


def write_conf(root: Path, path: Path = CONF) -> Path:
    """slurm.conf of a one-node cluster on this host, state under `root`; returns its path."""
    if path.exists() and MARKER not in path.read_text(errors="replace"):
        raise SlurmUnavailable(f"{path} exists and is not this test's: not touching a real cluster's configuration")
    host = socket.gethostname().split(".")[0]
    for d in ("state", "spool", "log"):
        (root / d).mkdir(parents=True, exist_ok=True)
    cpus = os.cpu_count() or 1
    mem = max(1024, int(_mem_mib() * 0.9))
    conf = f"""\
{MARKER}
ClusterName=engine
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(conf)
    return path


def _munge_ok() -> bool:
    if shutil.which("munge") is None:
        return False
    cred = subprocess.run(["munge", "-n"], capture_output=True)
    if cred.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=cred.stdout, capture_output=True).returncode == 0


def _start_munged() -> None:
    if _munge_ok():
        return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    if not Path("/etc/munge/munge.key").is_file():
        subprocess.run(["mungekey", "--create"], capture_output=True)
    # munged warns about the ownership of its log and state directories when run as root, and works
    subprocess.run(["munged", "--force"], capture_output=True, text=True)
    for _ in range(50):
        if _munge_ok():
            return
        time.sleep(0.1)
    raise SlurmUnavailable("munged did not start (munge -n | unmunge fails)")


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _log_tail(root: Path) -> str:
    out = []
    for name in ("slurmctld.log", "slurmd.log"):
        p = root / "log" / name
        if p.is_file():
            out.append(f"--- {name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(out)


def node_state(env) -> str:
    p = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env, timeout=20)
    return p.stdout.strip() if p.returncode == 0 else f"sinfo failed: {p.stderr.strip()}"


def _cancel_all(env, timeout: float = 20.0) -> None:
    """Cancel every job of the test cluster and wait until none runs or completes."""
    subprocess.run(["scancel", "--full", "--quiet", "--user", pwd.getpwuid(os.geteuid()).pw_name], env=env, capture_output=True,
                   timeout=30)
    deadline = time.time() + timeout
    while time.time() < deadline:
        p = subprocess.run(["squeue", "-h", "-t", "PENDING,RUNNING,COMPLETING,SUSPENDED"], env=env,
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0 or not p.stdout.strip():
            return
        time.sleep(0.5)


@contextlib.contextmanager
def _one_at_a_time(timeout: float):
    """One test cluster per machine: /etc/slurm/slurm.conf is shared."""
    import fcntl
    with open("/tmp/engine-test-slurm.lock", "w") as f:
        deadline = time.time() + 10 * timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() > deadline:
                    raise SlurmUnavailable("another test cluster is running on this machine") from None
                time.sleep(1)
        yield


@contextlib.contextmanager
def cluster(root: Path, timeout: float = 60.0):
    """Start munged (if needed), slurmctld and slurmd with a private config under `root`;
    yield the environment for sbatch/squeue; stop the two daemons and remove slurm.conf after."""
    missing = missing_binaries()
    if missing:
        raise SlurmUnavailable(f"not installed: {', '.join(missing)} (run .ci/system-deps.sh as root)")
    if os.geteuid() != 0:
        raise SlurmUnavailable("starting slurmctld and slurmd needs root")
    root = Path(root).resolve()
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    started = []
    with _one_at_a_time(timeout):
        conf = write_conf(root)
        try:
            _start_munged()
            for daemon in ("slurmctld", "slurmd"):
                pidfile = root / f"{daemon}.pid"
                pidfile.unlink(missing_ok=True)          # a stale one would name someone else's process
                args = [daemon, "-f", str(conf)] + (["-i"] if daemon == "slurmctld" else [])
                p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=30)
                if p.returncode != 0:
                    raise SlurmUnavailable(f"{daemon} failed to start ({p.returncode}): {p.stderr.strip()}\n"
                                           + _log_tail(root))
                for _ in range(100):
                    if _pid(pidfile):
                        break
                    time.sleep(0.1)
                if _pid(pidfile):
                    started.append(pidfile)
            deadline = time.time() + timeout
            state = ""
            while time.time() < deadline:
                state = node_state(env)
                if state in ("idle", "mixed", "allocated"):
                    break
                time.sleep(0.5)
            else:
                raise SlurmUnavailable(f"the node never became idle (sinfo: {state!r})\n" + _log_tail(root))
            yield env
        finally:
            if len(started) == 2:                    # no job step may outlive the cluster
                _cancel_all(env)
            for pidfile in reversed(started):
                pid = _pid(pidfile)
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            for pidfile in reversed(started):
                pid = _pid(pidfile)
                for _ in range(50):
                    if not pid or not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
            conf.unlink(missing_ok=True)


def slurmctld_log(root: Path) -> str:
    p = Path(root) / "log" / "slurmctld.log"
    return p.read_text(errors="replace") if p.is_file() else ""


if __name__ == "__main__":
    d = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/engine-slurm")
    with cluster(d) as e:
        print(f"SLURM is up ({CONF}); Ctrl-C stops slurmctld and slurmd")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
