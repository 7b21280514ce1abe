"""Sharing results through DVC: push to a temporary local remote, `git clone`, `engine pull`,
after which Snakemake plans nothing, and deleting a table regenerates only that table."""
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from engine import levels, store
from engine.plan import build_plan
from engine.dvcsync import dag_order, touch_in_dag_order

from .conftest import ROOT, engine_cmd, snakemake, store_copy
from .test_workflow import dry_run_jobs

DVC_FILES = ("dvc.yaml", ".dvcignore", ".gitignore", ".dvc/config", ".dvc/.gitignore")


def git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file below root but the run records (timings) and the pull ledger (engine/levels.py):
    .dvcignore keeps both local."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in (store.RUN_RECORD, levels.PULLED)}


def unmarked(table: str) -> str:
    """A table without its verification levels (markers and legend), which depend on where it is read."""
    return "\n".join(line for line in re.sub(r" <sup>[a-z]</sup>", "", table).splitlines()
                     if not line.startswith("Verification:"))


def test_touch_in_dag_order_puts_every_output_after_its_inputs(tmp_path):
    files = ["results/jobs/evaluate/b.json", "paper/smoke/README.md", "paper/tables/t.md",
             "results/jobs/finetune/a.json", "paper/smoke/figures/f.png", "paper/README.md"]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
        os.utime(tmp_path / f, (2e9, 2e9))            # checkout order: all equal, in the future
    # the manifests' instances, and evaluate's upstream (the finetune result), read from provenance
    (tmp_path / "results/jobs/finetune/a.json").write_text(json.dumps({"instances": ["f0"]}))
    (tmp_path / "results/jobs/evaluate/b.json").write_text(json.dumps({"instances": ["e0"]}))
    for stage, h, up in (("finetune", "f0", []), ("evaluate", "e0", ["f0"])):
        (tmp_path / "results" / stage / h).mkdir(parents=True)
        (tmp_path / "results" / stage / h / "provenance.json").write_text(json.dumps({"upstream": up}))
    assert touch_in_dag_order(tmp_path, now=1e9) == len(files)
    mtime = {f: (tmp_path / f).stat().st_mtime for f in files}
    assert mtime["results/jobs/finetune/a.json"] < mtime["results/jobs/evaluate/b.json"]
    assert mtime["results/jobs/evaluate/b.json"] < mtime["paper/tables/t.md"] == mtime["paper/smoke/figures/f.png"]
    assert mtime["paper/tables/t.md"] < mtime["paper/README.md"] == mtime["paper/smoke/README.md"] < 1e9
    assert [len(g) for g in dag_order(tmp_path) if g] == [1, 1, 2, 2]


OTHER_PAPER = """name: other_paper
extends: base/gaussian.yaml
paper: other
seeds: [0]
model: {kind: gaussian_score, process: {kind: vp}}
sampler: {kind: gddim, steps: 10, stochasticity: 1.0}
scales: {smoke: {algorithm.epochs: 2, algorithm.batch_size: 16, curve.every: 1}}
claims: []
"""


@pytest.mark.slow(50)
def test_push_clone_pull_plans_nothing(smoke_store, tmp_path, monkeypatch):
    # one spec of the shared smoke store keeps it short, and a second paper (one run) is computed here
    repo = store_copy(smoke_store, tmp_path / "repo", ("gaussian_vp_gap.yaml",), {"other_paper.yaml": OTHER_PAPER},
                      prune=True)
    for name in DVC_FILES:
        (repo / name).parent.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    dvc_yaml = (repo / "dvc.yaml").read_text()
    assert "  - scale: default\n" in dvc_yaml
    (repo / "dvc.yaml").write_text(dvc_yaml.replace("  - scale: default\n", "  - scale: smoke\n"))
    # the default paper is committed; at smoke scale commit paper/smoke/ the same way
    gitignore = (repo / ".gitignore").read_text()
    (repo / ".gitignore").write_text(gitignore.replace("paper/smoke/\n", ""))
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "project", cwd=repo)
    env = {"DVC_REMOTE_DIR": str(tmp_path / "remote")}

    push = engine_cmd("push", cwd=repo, env=env)
    assert push.returncode == 0, push.stdout + push.stderr
    assert "dvc.lock changed: commit it" in push.stdout
    assert (repo / "paper/smoke/tables/gaussian_vp_gap_table.md").is_file()
    pushed = [p for p in (tmp_path / "remote").rglob("*") if p.is_file()]
    kept = [p for p in (repo / "results").rglob("*.json") if p.name != store.RUN_RECORD]   # run records stay
    assert len(pushed) > len(kept)                                        # every file of results/, plus .dir
    git("add", "dvc.lock", "paper", cwd=repo)
    git("commit", "-qm", "results", cwd=repo)
    again = engine_cmd("push", cwd=repo, env=env)                       # nothing changed: no Snakemake run
    assert again.returncode == 0 and "dvc.lock changed" not in again.stdout, again.stdout + again.stderr
    assert "didn't change, skipping" in again.stdout + again.stderr

    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone), cwd=tmp_path)
    assert not (clone / "results").exists()
    pull = engine_cmd("pull", cwd=clone, env=env)
    assert pull.returncode == 0, pull.stdout + pull.stderr
    assert digests(clone / "results") == digests(repo / "results")
    assert not list((clone / "results").rglob(store.RUN_RECORD))       # not shared: timings stay where they ran
    assert dry_run_jobs(clone) == {}                                     # nothing to recompute

    # one paper only: its results (and their upstream), checked, and nothing of the other paper
    one = tmp_path / "one"
    git("clone", "-q", str(repo), str(one), cwd=tmp_path)
    only = engine_cmd("pull", "--paper", "other", "--scale", "smoke", cwd=one, env=env)
    assert only.returncode == 0, only.stdout + only.stderr
    monkeypatch.chdir(repo)
    plan = build_plan("smoke")
    mine = {str(plan.instances[h].path) for (spec, _), roles in plan.run_stages.items() if spec == "other_paper"
            for h in roles.values()}
    assert f"checked {len(mine)} results against their provenance" in only.stdout, only.stdout
    assert {str(p.relative_to(one)) for p in (one / "results").glob("*/*") if p.parent.name != "jobs"} == mine
    bad = engine_cmd("pull", "--paper", "nope", "--scale", "smoke", cwd=one, env=env)
    assert bad.returncode == 2 and "no spec of paper 'nope'" in bad.stderr and "other" in bad.stderr, bad.stderr

    table = clone / "paper/smoke/tables/gaussian_vp_gap_table.md"
    before = table.read_text()
    table.unlink()
    assert dry_run_jobs(clone) == {"outputs": 1, "index": 1, "all": 1}
    snakemake("--config", "scale=smoke", cwd=clone)
    assert table.read_text() == before
    # the same numbers as repo/'s; the pull rewrote the levels: computed there, pulled and checked here
    committed = (repo / "paper/smoke/tables/gaussian_vp_gap_table.md").read_text()
    assert unmarked(before) == unmarked(committed) and "<sup>h</sup>" in committed
    assert "<sup>p</sup>" in before and "<sup>h</sup>" not in before
    assert digests(clone / "results") == digests(repo / "results")
    assert not list((clone / "results").rglob(store.RUN_RECORD))       # not shared: timings stay where they ran       # no stage instance recomputed
