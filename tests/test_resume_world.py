"""Resume across world sizes: a finetune run killed (SIGKILL, every process) after a checkpoint written
by N training processes resumes with M, for 2 -> 1 and 1 -> 2 (torchrun, gloo on CPU), and ends equal
to the uninterrupted one-process run within the tolerance of N processes against one (float64 Gaussian
policy: 1e-9, tests/test_distributed.py). The result's provenance records the resume and both world
sizes; the checkpoint records the world that wrote it."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from engine import checkpoint
from engine.cli import main

from .conftest import copy_project
from .test_distributed import json_diff, weights_diff
from .test_faults import write_spec

TOL = 1e-9


def engine_argv(n: int, h: str) -> list[str]:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", str(n)] if n > 1 else []
    return [sys.executable, *launcher, "-m", "engine", "run", "finetune", h, "--scale", "smoke"]


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (torchrun's workers leave its process group)."""
    import psutil
    root = psutil.Process(pid)
    children = root.children(recursive=True)
    for p in (root, *children):
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(children, timeout=30)         # the root is the caller's to reap


def run(project, h: str, n: int, log, kill_after: int | None = None) -> int:
    """Run the finetune instance with n processes; with kill_after, SIGKILL every process of it once a
    checkpoint after that epoch exists. Returns the exit status."""
    ckpt = project / checkpoint.resume_dir("finetune", h) / checkpoint.FILE
    env = {**os.environ, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(engine_argv(n, h), cwd=project, env=env, stderr=log, stdout=log, start_new_session=True)
    deadline = time.time() + 240
    while kill_after is not None and proc.poll() is None and time.time() < deadline:
        if ckpt.is_file() and checkpoint.read_epoch(ckpt) >= kill_after:
            kill_tree(proc.pid)
            break
        time.sleep(0.01)
    return proc.wait(timeout=240)


@pytest.mark.slow(40)
@pytest.mark.parametrize("first,then", [(2, 1), (1, 2)])
def test_checkpoint_of_n_processes_resumes_with_m(first, then, tmp_path, monkeypatch):
    (tmp_path / "killed").mkdir()
    killed = copy_project(tmp_path / "killed", specs=False)
    h = write_spec(killed, epochs=150, every=4)
    ckpt = killed / checkpoint.resume_dir("finetune", h) / checkpoint.FILE
    with open(tmp_path / "run.log", "w") as log:
        status = run(killed, h, first, log, kill_after=8)
        assert status != 0 and not (killed / "results" / "finetune" / h).exists(), \
            "the run ended before it could be killed; give it more epochs"
        assert checkpoint.read_world(ckpt) == first
        after = checkpoint.read_epoch(ckpt)
        assert 8 <= after < 150
        assert run(killed, h, then, log) == 0, (tmp_path / "run.log").read_text()[-3000:]
    text = (tmp_path / "run.log").read_text()
    assert f"resuming from checkpoint after epoch {after}" in text
    assert f"written by {first} processes, resumed by {then}" in text
    result = killed / "results" / "finetune" / h
    prov = json.loads((result / "provenance.json").read_text())
    assert prov["notes"]["resumed"] == {"after_epoch": after, "world_before": first, "world_now": then}

    (tmp_path / "straight").mkdir()
    straight = copy_project(tmp_path / "straight", specs=False)
    assert write_spec(straight, epochs=150, every=0) == h
    monkeypatch.chdir(straight)
    assert main(["run", "finetune", h, "--scale", "smoke"]) == 0
    ref = straight / "results" / "finetune" / h
    assert "notes" not in json.loads((ref / "provenance.json").read_text())
    diffs = (json_diff(result / "metrics.json", ref / "metrics.json"), json_diff(result / "curve.json", ref / "curve.json"),
             weights_diff(result / "policy.safetensors", ref / "policy.safetensors"))
    print(f"{first} -> {then} processes: largest difference metrics {diffs[0]:.1e}, curve {diffs[1]:.1e}, "
          f"weights {diffs[2]:.1e}")
    assert max(diffs) <= TOL, diffs
    assert json.loads((ref / "metrics.json").read_text())["improvement"] != 0.0
