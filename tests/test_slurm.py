"""The smoke DAG through a real SLURM (profiles/slurm, snakemake-executor-plugin-slurm) on a
single-node cluster started on localhost (tests/slurm_cluster.py): every stage job goes
through `sbatch` with the CPUs, memory and time limit its spec asks for, and the results
equal a local run's (same hashes, bitwise-identical metrics, curves, weights and tables).

Needs root, Debian's slurm-wlm and munge (.ci/system-deps.sh) and the plugin
(`make slurm-plugin`: .venv/slurm-plugin, or $ENGINE_SLURM_PLUGIN). Skipped without them
outside CI; in CI ($CI, set by .ci/run) it fails instead."""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.plan import build_plan

from .conftest import ROOT, copy_project, require, snakemake, store_copy
from .slurm_cluster import SlurmUnavailable, cluster, missing_binaries, slurmctld_log

pytestmark = pytest.mark.slow(82)

SMALL = """name: slurm_small
extends: base/gaussian.yaml
model: {kind: gaussian_score, process: {kind: ve}}
sampler: {kind: gddim, steps: 10, stochasticity: 2.0}
algorithm: {epochs: 4, batch_size: 32, kl_coef: 1.0}
seeds: [0]
claims: []
resources: {threads: 1, mem_mb: 700, runtime_min: 7}
scales: {smoke: {}}
outputs: {tables: [{name: slurm_small_table, rows: [seed], metrics: [gap, improvement]}]}
"""
# the one stage rule's jobs log under logs/slurm/rule_stage/<stage>_<job>/ (the plugin joins the wildcards)
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: \S*/rule_stage/([a-z0-9_]+?)_([0-9a-f]{16})/")


def plugin_dir() -> Path:
    return Path(os.environ.get("ENGINE_SLURM_PLUGIN") or Path(sys.prefix) / "slurm-plugin")


def problem() -> str | None:
    missing = missing_binaries()
    if missing:
        return f"SLURM is not installed (missing {', '.join(missing)})"
    if os.geteuid() != 0:
        return "starting slurmctld and slurmd needs root"
    if not (plugin_dir() / "snakemake_executor_plugin_slurm").is_dir():
        return f"snakemake-executor-plugin-slurm is not installed in {plugin_dir()} (make slurm-plugin)"
    return None


def make_project(path: Path) -> Path:
    path.mkdir()
    copy_project(path, pattern="gaussian_vp_gap.yaml", source=ROOT / "specs")
    shutil.copytree(ROOT / "profiles", path / "profiles")
    (path / "specs" / "slurm_small.yaml").write_text(SMALL)
    return path


def minutes(limit: str) -> int:
    """squeue's time limit (M:SS, H:MM:SS or D-HH:MM:SS) in minutes."""
    days, _, hms = limit.rpartition("-")
    parts = [int(x) for x in hms.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return (int(days or 0) * 24 + h) * 60 + m + (s > 0)


def test_smoke_dag_through_sbatch_equals_a_local_run(smoke_store, tmp_path, monkeypatch):
    """The local run is the shared smoke store's (conftest.smoke_store), with slurm_small added."""
    require(problem())
    local = store_copy(smoke_store, tmp_path / "local", ("gaussian_vp_gap.yaml",), {"slurm_small.yaml": SMALL})
    shutil.copytree(ROOT / "profiles", local / "profiles")
    on_slurm = make_project(tmp_path / "slurm")

    t0 = time.time()
    snakemake("--profile", "profiles/local", "--config", "scale=smoke", cwd=local)
    local_s = time.time() - t0

    exe = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    try:
        with cluster(tmp_path / "cluster") as env:
            env = {**env, "PYTHONPATH": f"{on_slurm}{os.pathsep}{plugin_dir()}"}
            t0 = time.time()
            run = subprocess.run([exe, "--profile", "profiles/slurm", "--config", "scale=smoke",
                                  "--slurm-init-seconds-before-status-checks", "1",
                                  "--seconds-between-status-checks", "1"],
                                 cwd=on_slurm, env=env, capture_output=True, text=True, timeout=900)
            slurm_s = time.time() - t0
            queue = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%C|%m|%l"], env=env,
                                   capture_output=True, text=True, timeout=30).stdout
            ctl = slurmctld_log(tmp_path / "cluster")
    except SlurmUnavailable as e:
        pytest.fail(f"SLURM did not start: {e}")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-5000:]
    print(f"smoke DAG (Gaussian specs): local {local_s:.1f}s (slurm_small; the VP spec is the store's), through SLURM {slurm_s:.1f}s")

    # every stage job went through sbatch, asked for its spec's resources, and SLURM ran it
    monkeypatch.chdir(on_slurm)
    plan = build_plan("smoke")
    submitted = {m.group(3): (m.group(1), m.group(2)) for m in SUBMITTED.finditer(out)}
    assert set(submitted) == set(plan.jobs), (sorted(submitted), sorted(plan.jobs))
    states = {line.split("|")[0]: line.split("|")[1:] for line in queue.split()}
    for job_id, (slurm_id, rule) in submitted.items():
        job = plan.jobs[job_id]
        assert rule == job.stage
        assert f"_slurm_rpc_submit_batch_job: JobId={slurm_id} " in ctl
        assert f"_job_complete: JobId={slurm_id} done" in ctl
        state, cpus, mem, limit = states[slurm_id]
        assert state == "COMPLETED", (job_id, states[slurm_id])
        assert int(cpus) == job.threads and mem == f"{job.mem_mb}M" and minutes(limit) == job.runtime_min, \
            (job_id, states[slurm_id], job)
        assert (on_slurm / "logs" / "slurm" / "rule_stage" / f"{rule}_{job_id}" / f"{slurm_id}.log").is_file()
    assert {j.threads for j in plan.jobs.values()} == {1, 2}        # both specs' resources were exercised

    # the same results as the local run, bitwise
    for stage in ("finetune", "evaluate"):
        planned = sorted(h for h, i in plan.instances.items() if i.stage == stage)
        assert sorted(p.name for p in (on_slurm / "results" / stage).iterdir()) == planned
        for h in planned:
            for f in sorted((local / "results" / stage / h).iterdir()):
                if f.name not in ("provenance.json", ".run.json"):     # host, times and paths differ
                    assert f.read_bytes() == (on_slurm / "results" / stage / h / f.name).read_bytes(), (stage, h, f.name)
    for t in plan.targets.values():
        for f in t.files:
            if f.endswith(".md"):
                assert (local / f).read_bytes() == (on_slurm / f).read_bytes(), f
