"""`evaluation.steps`: a trained policy evaluated at other step counts without retraining (groundwork of
the continuous-time RL issue): a sweep of it shares one finetune, the training step count gives the
same numbers as leaving it out, and a per-step correction transfers by the trained step nearest in time."""
import json

import torch

from engine.models import gaussian
from engine.spec.models import RunConfig

from .tinystore import GAUSSIAN, build_store, hashes_of

SWEEP = GAUSSIAN.replace("name: tiny\n", "name: steps\n").replace(
    "evaluation: {method: monte_carlo, samples: 2000}", "evaluation: {method: exact, steps: [10, 20, 40]}").replace(
    "seeds: [0, 1]", "seeds: [0]").replace("tiny_table", "steps_table")


def test_an_evaluation_step_sweep_shares_one_finetune_and_moves_the_numbers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = build_store(tmp_path, SWEEP, "steps")
    assert len(hashes_of(plan, "finetune")) == 1 and len(hashes_of(plan, "evaluate")) == 3
    metrics = {}
    for h in hashes_of(plan, "evaluate"):
        inst = plan.instances[h]
        metrics[inst.config["evaluation"]["steps"]] = json.loads((inst.path / "metrics.json").read_text())
    same = GAUSSIAN.replace("name: tiny\n", "name: same\n").replace(
        "evaluation: {method: monte_carlo, samples: 2000}", "evaluation: {method: exact}").replace(
        "seeds: [0, 1]", "seeds: [0]").replace("tiny_table", "same_table")
    base = build_store(tmp_path, same, "same")
    (h,) = [h for h in hashes_of(base, "evaluate") if any(spec == "same" for spec, _ in base.instances[h].runs)]
    assert hashes_of(base, "finetune") == hashes_of(plan, "finetune")          # the same training
    default = json.loads((base.instances[h].path / "metrics.json").read_text())
    assert metrics[10]["reward_ode"] == default["reward_ode"] and metrics[10]["gap"] == default["gap"]
    assert metrics[20]["reward_ode_pretrained"] != metrics[10]["reward_ode_pretrained"]   # another grid
    assert metrics[40]["gap_pretrained"] != metrics[20]["gap_pretrained"]


def test_a_per_step_correction_transfers_by_the_nearest_trained_step(tmp_path):
    run = {"data": {"kind": "gaussian", "dim": 2}, "model": {"kind": "gaussian_score", "process": {"kind": "vp"},
                                                          "init_scale": 0.3},
           "sampler": {"kind": "gddim", "steps": 10, "stochasticity": 1.0},
           "algorithm": {"kind": "ddpo", "epochs": 1, "batch_size": 8}, "reward": {"kind": "quadratic"}}
    cfg = RunConfig.model_validate(run)
    p = gaussian.policy(cfg, {}, torch.Generator().manual_seed(0))
    gaussian.save_trained(p, tmp_path)
    at20 = gaussian.finetuned(RunConfig.model_validate({**run, "sampler": {**run["sampler"], "steps": 20}}), {}, tmp_path)
    # step k of 20 starts at t = (k + 1) / 20; trained step j of 10 at (j + 1) / 10
    assert torch.equal(at20.A[1], p.A[0]) and torch.equal(at20.A[19], p.A[9]) and torch.equal(at20.b[5], p.b[2])
    at10 = gaussian.finetuned(cfg, {}, tmp_path)
    assert torch.equal(at10.A, p.A) and torch.equal(at10.b, p.b)


def test_evaluation_solver_heun_evaluates_both_policies_with_heun_and_shares_the_finetune(tmp_path, monkeypatch):
    from engine.samplers.gddim import gddim_stds
    from engine.samplers.second_order import full_plan
    monkeypatch.chdir(tmp_path)
    spec = SWEEP.replace("steps: [10, 20, 40]}", "steps: [10, 20], solver: heun}").replace("name: steps\n", "name: heun\n") \
        .replace("steps_table", "heun_table")
    plan = build_store(tmp_path, spec, "heun")
    plain = build_store(tmp_path, SWEEP, "steps")
    assert hashes_of(plan, "finetune") == hashes_of(plain, "finetune")
    def by(p, name):           # the spec's own evaluations (the store plans every spec it holds)
        return {p.instances[h].config["evaluation"]["steps"]: json.loads((p.instances[h].path / "metrics.json").read_text())
                for h in hashes_of(p, "evaluate") if any(spec == name for spec, _ in p.instances[h].runs)}
    heun, ddim = by(plan, "heun"), by(plain, "steps")
    assert set(heun) == {10, 20}
    # transfer: the improvement here against training's own (T = 10, DDIM), on the same noises
    assert ddim[10]["transfer"] == 0.0 and ddim[10]["improvement_train"] == ddim[10]["improvement"]
    for t in (10, 20):
        assert ddim[t]["improvement_train"] == ddim[10]["improvement"] == heun[t]["improvement_train"]
        assert heun[t]["transfer"] == heun[t]["improvement"] - ddim[10]["improvement"]
    assert ddim[20]["transfer"] == ddim[20]["improvement"] - ddim[10]["improvement"] != 0.0
    for t in (10, 20):
        assert heun[t]["reward_ode"] != ddim[t]["reward_ode"] and heun[t]["reward_sde"] == ddim[t]["reward_sde"]
    # the pretrained model's Heun ODE reward, recomputed from the family directly
    (h,) = [h for h in hashes_of(plan, "evaluate") if plan.instances[h].config["evaluation"]["steps"] == 20]
    cfg = RunConfig.model_validate({**plan.instances[hashes_of(plan, "finetune")[0]].config,
                                    "sampler": {**plan.instances[hashes_of(plan, "finetune")[0]].config["sampler"], "steps": 20}})
    from engine.rewards import build
    pre = gaussian.pretrained(cfg, {})
    ode = gddim_stds(pre.a, pre.s, 0.0)
    with torch.no_grad():
        expected = float(build(cfg.reward, {}).expectation(*pre.exact_moments(ode, plan=full_plan(ode, "heun"))))
    assert abs(heun[20]["reward_ode_pretrained"] - expected) < 1e-9


def test_the_pretrained_evaluation_is_shared_only_between_identical_pretrained_models():
    from engine.stages.evaluate import _pretrained_key
    run = {"data": {"kind": "gaussian", "dim": 2}, "model": {"kind": "gaussian_score", "process": {"kind": "vp"}},
           "sampler": {"kind": "gddim", "steps": 10, "stochasticity": 1.0},
           "algorithm": {"kind": "ddpo", "epochs": 1, "batch_size": 8}, "reward": {"kind": "quadratic"}}
    ev = {"method": "exact", "samples": 100, "seed": 1}
    cfg = RunConfig.model_validate(run)
    other = RunConfig.model_validate({**run, "seed": 3, "algorithm": {**run["algorithm"], "lr": 0.5}})
    p, q = gaussian.pretrained(cfg, {}), gaussian.pretrained(other, {})
    assert _pretrained_key(p, cfg, {}, ev, "exact") == _pretrained_key(q, other, {}, ev, "exact")   # algorithm, seed
    with torch.no_grad():
        q.A[0, 0] = 1e-12                  # one element of the pretrained weights differs: never shared
    assert _pretrained_key(p, cfg, {}, ev, "exact") != _pretrained_key(q, other, {}, ev, "exact")
    moved = RunConfig.model_validate({**run, "sampler": {**run["sampler"], "stochasticity": 2.0}})
    assert _pretrained_key(p, cfg, {}, ev, "exact") != _pretrained_key(gaussian.pretrained(moved, {}), moved, {}, ev, "exact")
    assert _pretrained_key(p, cfg, {}, ev, "exact") != _pretrained_key(p, cfg, {}, {**ev, "seed": 2}, "exact")
    assert _pretrained_key(p, cfg, {"pretrain": "a"}, ev, "exact") != _pretrained_key(p, cfg, {"pretrain": "b"}, ev, "exact")
