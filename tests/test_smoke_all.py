"""The smoke scale of every spec runs under Snakemake, end to end: the shared smoke store
(conftest.smoke_store) is that run. (The algorithms' sign checks run in-process:
tests/test_sign_checks.py.)"""
import pytest

from engine.plan import build_plan


pytestmark = pytest.mark.slow(220)


def test_every_spec_runs_at_smoke_scale(smoke_store, monkeypatch):
    monkeypatch.chdir(smoke_store)
    plan = build_plan("smoke")
    assert {s.name for s in plan.specs} >= {"digits_ddpo_lambda", "digits_mixgrpo_lambda", "gaussian_vp_gap"}
    missing = [f for f in plan.all_files() if not (smoke_store / f).is_file()]
    assert missing == []
    assert all(plan.status(h) == "done" for h in plan.instances)
    grids = list((smoke_store / "results" / "evaluate").glob("*/samples_finetuned.png"))
    evaluated = {plan.run_hash(r, "evaluate") for s in plan.specs for r in s.runs     # the judged image families
                 if getattr(r.config.model, "kind", None) in ("unet", "flow_unet")}
    assert len(grids) == len(evaluated)            # specs share identical runs (one result each)


def test_compressed_sensing_runs_carry_their_own_full_dimension_baseline(smoke_store, monkeypatch):
    """Every CSDM run is compared with the m = d chain of its own seed: at m = d the baseline is the
    run itself (ratio and speed-up exactly 1); below it the baseline is the m = d run's result."""
    import json
    monkeypatch.chdir(smoke_store)
    plan = build_plan("smoke")
    spec = next(s for s in plan.specs if s.name == "csdm_sparse")
    d = spec.runs[0].config.data.dim
    by_m = {}
    for r in spec.runs:
        h = plan.run_hash(r, "evaluate")
        by_m[r.config.model.latent_dim] = json.loads((smoke_store / "results" / "csdm_evaluate" / h / "metrics.json").read_text())
        assert (smoke_store / "results" / "csdm_evaluate" / h / "samples_generated.png").stat().st_size > 1000
    assert by_m[d]["swd_ratio"] == 1.0 and by_m[d]["speedup"] == 1.0 and by_m[d]["swd"] == by_m[d]["swd_full"]
    assert all(v["swd_full"] == by_m[d]["swd"] for v in by_m.values())
    full = {plan.run_hash(r, "sample") for r in spec.runs if r.config.model.latent_dim == d}
    assert {plan.run_hash(r, "full_sample") for r in spec.runs if r.config.model.latent_dim != d} == full
