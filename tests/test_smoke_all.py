"""The smoke scale of every spec runs under Snakemake, end to end. (The algorithms' sign checks
run in-process: tests/test_sign_checks.py.)"""
import pytest

from engine.plan import build_plan

from .conftest import ROOT, copy_project, snakemake

pytestmark = pytest.mark.slow


def test_every_spec_runs_at_smoke_scale(tmp_path, monkeypatch):
    project = copy_project(tmp_path, pattern="*.yaml", source=ROOT / "specs")
    snakemake("--config", "scale=smoke", cwd=project)
    monkeypatch.chdir(project)
    plan = build_plan("smoke")
    assert {s.name for s in plan.specs} >= {"digits_ddpo_lambda", "digits_mixgrpo_lambda", "gaussian_vp_gap"}
    missing = [f for f in plan.all_files() if not (project / f).is_file()]
    assert missing == []
    assert all(plan.status(h) == "done" for h in plan.instances)
    grids = list((project / "results" / "evaluate").glob("*/samples_finetuned.png"))
    evaluated = {plan.run_hash(r, "evaluate") for s in plan.specs if s.name.startswith("digits") for r in s.runs}
    assert len(grids) == len(evaluated)            # specs share identical runs (one result each)

