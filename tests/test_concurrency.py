"""Two Snakemake invocations in one project at the smoke scale.

Overlapping DAGs: the second is refused by Snakemake's directory lock with a clear message,
and the first is unaffected. Disjoint targets (the tables of two different specs) run side by
side and both finish with correct results: every stored file matches its sha256, a result
recomputed alone is bitwise equal, and nothing is left to do for those targets afterwards.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import store
from engine.cli import main
from engine.plan import build_plan

from .conftest import snakemake

pytestmark = pytest.mark.slow(23)

VP = "paper/smoke/tables/gaussian_vp_gap_table.md"
VE = "paper/smoke/tables/gaussian_ve_gap_table.md"


def start(project: Path, *targets: str, log: Path) -> subprocess.Popen:
    exe = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.Popen([exe, "--cores", "1", *targets, "--config", "scale=smoke"], cwd=project, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)


def wait_for_lock(project: Path, proc: subprocess.Popen, timeout=60) -> None:
    locks = project / ".snakemake" / "locks"
    deadline = time.time() + timeout
    while not (locks.is_dir() and any(locks.iterdir())):
        assert proc.poll() is None, "the first invocation ended before it took its lock"
        assert time.time() < deadline, "no lock appeared"
        time.sleep(0.02)


def test_overlapping_invocations_are_refused_and_disjoint_ones_run_side_by_side(project, tmp_path, monkeypatch):
    first = start(project, VP, log=tmp_path / "vp.log")
    wait_for_lock(project, first)
    disjoint = start(project, VE, log=tmp_path / "ve.log")
    same = snakemake(VP, "--config", "scale=smoke", cwd=project, check=False)     # shares every output
    assert first.poll() is None, "too fast: the first run must still hold its lock when the third has ended"
    assert first.wait(timeout=300) == 0, (tmp_path / "vp.log").read_text()[-3000:]
    assert disjoint.wait(timeout=300) == 0, (tmp_path / "ve.log").read_text()[-3000:]

    assert same.returncode != 0
    assert "Directory cannot be locked" in same.stdout + same.stderr
    assert not (project / ".snakemake" / "locks").exists() or not any((project / ".snakemake" / "locks").iterdir())

    # both finished with complete, verified results
    for target in (VP, VE):
        text = (project / target).read_text()
        assert "| 1 | 10 |" in text and "nan" not in text, text
    monkeypatch.chdir(project)
    plan = build_plan("smoke")
    for h, inst in plan.instances.items():
        assert store.verify_files(inst.stage, h)["hash"] == h
    dry = snakemake("-n", VP, VE, "--config", "scale=smoke", cwd=project).stdout
    assert "Nothing to be done" in dry, dry

    # one result from each spec, recomputed alone, is bitwise equal
    alone = tmp_path / "alone"
    shutil.copytree(project / "specs", alone / "specs")
    monkeypatch.chdir(alone)
    for spec in ("gaussian_vp_gap", "gaussian_ve_gap"):
        h = next(h for h, i in plan.instances.items() if i.stage == "finetune" and i.runs[0][0] == spec)
        assert main(["run", "finetune", h, "--scale", "smoke"]) == 0
        for name in ("metrics.json", "curve.json", "policy.safetensors"):
            assert (alone / "results" / "finetune" / h / name).read_bytes() == \
                (project / "results" / "finetune" / h / name).read_bytes()
