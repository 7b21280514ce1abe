"""The smoke scale of every spec runs under Snakemake, end to end: the shared smoke store
(conftest.smoke_store) is that run. (The algorithms' sign checks run in-process:
tests/test_sign_checks.py.)"""
import pytest

from engine.plan import build_plan


pytestmark = pytest.mark.slow(176)


def test_every_spec_runs_at_smoke_scale(smoke_store, monkeypatch):
    monkeypatch.chdir(smoke_store)
    plan = build_plan("smoke")
    assert {s.name for s in plan.specs} >= {"digits_ddpo_lambda", "digits_mixgrpo_lambda", "gaussian_vp_gap"}
    missing = [f for f in plan.all_files() if not (smoke_store / f).is_file()]
    assert missing == []
    assert all(plan.status(h) == "done" for h in plan.instances)
    grids = list((smoke_store / "results" / "evaluate").glob("*/samples_finetuned.png"))
    evaluated = {plan.run_hash(r, "evaluate") for s in plan.specs if s.name.startswith("digits") for r in s.runs}
    assert len(grids) == len(evaluated)            # specs share identical runs (one result each)
