"""The smoke scale of every spec runs under Snakemake, end to end; in the same run, the RL check
specs (tests/specs/) show that DDPO and MixGRPO raise the digits classifier reward and that
negated advantages lower it."""
import json
import shutil

import pytest

from engine.plan import build_plan

from .conftest import ROOT, copy_project, snakemake

pytestmark = pytest.mark.slow

# The stated margin: the ODE sampler's reward on 200 held-out noises moves by at least this
# many paired standard errors (both policies see the same noises), in the expected direction.
MARGIN_SE = 3.0


def test_every_spec_runs_at_smoke_scale(tmp_path, monkeypatch):
    project = copy_project(tmp_path, pattern="*.yaml")
    for f in (ROOT / "tests" / "specs").glob("*.yaml"):     # the RL checks share the digits pretraining
        shutil.copy2(f, project / "specs" / f.name)
    snakemake("--config", "scale=smoke", cwd=project)
    monkeypatch.chdir(project)
    plan = build_plan("smoke")
    assert {s.name for s in plan.specs} >= {"digits_ddpo_lambda", "digits_mixgrpo_lambda", "gaussian_vp_gap",
                                            "digits_rl_check_ddpo", "digits_rl_check_mixgrpo"}
    missing = [f for f in plan.all_files() if not (project / f).is_file()]
    assert missing == []
    assert all(plan.status(h) == "done" for h in plan.instances)
    grids = list((project / "results" / "evaluate").glob("*/samples_finetuned.png"))
    evaluated = {plan.run_hash(r, "evaluate") for s in plan.specs if s.name.startswith("digits") for r in s.runs}
    assert len(grids) == len(evaluated)            # specs share identical runs (one result each)

    for spec in (s for s in plan.specs if s.name.startswith("digits_rl_check")):
        moved = {}
        for run in spec.runs:
            h = plan.run_hash(run, "evaluate")
            m = json.loads((project / "results" / "evaluate" / h / "metrics.json").read_text())
            moved[run.config.algorithm.advantage_sign] = (m["improvement"], m["improvement_se"])
        (up, up_se), (down, down_se) = moved[1], moved[-1]
        assert up > MARGIN_SE * up_se > 0, f"{spec.name}: +advantages moved the ODE reward by {up:+.3f} ± {up_se:.3f}"
        assert down < -MARGIN_SE * down_se < 0, \
            f"{spec.name}: -advantages moved the ODE reward by {down:+.3f} ± {down_se:.3f}"
