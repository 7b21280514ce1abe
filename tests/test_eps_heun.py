"""`evaluation.solver: heun` for eps-prediction families: Heun in y = x / a over sigma = s / a (where DDIM is
Euler). Oracles: the probability-flow ODE with the exact score maps the exact forward marginal onto the
data law (closed form), so a solver's terminal moment error is its discretisation error; Heun's falls
about 4x per doubling of the steps (second order), DDIM's about 2x. The sampled chain and the exact
affine walk are two implementations of the same steps."""
import math

import pytest
import torch

from engine.evaluation import sample_x0
from engine.models import gaussian
from engine.samplers.gddim import gddim_stds
from engine.samplers.second_order import full_plan
from engine.spec.models import RunConfig

MU, SD = 0.7, 0.6
RUN = {"data": {"kind": "gaussian", "dim": 2, "mean": MU, "std": SD},
       "model": {"kind": "gaussian_score", "start": "marginal", "correction": "continuous", "init_scale": 0.0},
       "sampler": {"kind": "gddim", "steps": 10, "stochasticity": 1.0},
       "algorithm": {"kind": "ddpo", "epochs": 1, "batch_size": 8}, "reward": {"kind": "quadratic"}}


def build(steps, process, init_scale=0.0):
    proc = {"kind": "vp"} if process == "vp" else {"kind": "ve", "sigma_min": 0.01, "sigma_max": 20.0}
    cfg = RunConfig.model_validate({**RUN, "model": {**RUN["model"], "process": proc, "init_scale": init_scale},
                                    "sampler": {**RUN["sampler"], "steps": steps}})
    return gaussian.policy(cfg, {}, torch.Generator().manual_seed(5))


def error(p, heun: bool) -> float:
    ode = gddim_stds(p.a, p.s, 0.0)
    with torch.no_grad():
        m, v = p.exact_moments(ode, plan=full_plan(ode, "heun") if heun else None)
    return float((m - MU).abs().max() + (v.sqrt() - SD).abs().max())


def test_heun_is_second_order_and_ddim_first_on_the_geometric_sigma_grid():
    steps = (10, 20, 40)
    heun = [error(build(t, "ve"), True) for t in steps]
    ddim = [error(build(t, "ve"), False) for t in steps]
    for e0, e1 in zip(heun, heun[1:]):
        assert 3.5 < e0 / e1 < 6.0, heun                    # second order: error / 4 per doubling
    for e0, e1 in zip(ddim, ddim[1:]):
        assert 1.7 < e0 / e1 < 2.3, ddim                    # first order: error / 2


def test_heun_beats_ddim_on_the_uniform_vp_grid():
    # VP's grid is uniform in t, so sigma = s / a ~ sqrt(t) near the data and the last (Euler) step into
    # sigma = 0 is long: Heun's order falls toward one as T grows (3.3x, 3.1x, 2.8x per doubling), but it
    # stays several times closer to the data law than DDIM
    for t in (10, 20, 40):
        assert error(build(t, "vp"), True) < 0.4 * error(build(t, "vp"), False)


def test_the_sampled_heun_chain_matches_its_exact_walk():
    p = build(12, "vp", init_scale=0.3)                     # a corrected policy: the correction enters both ends
    ode = gddim_stds(p.a, p.s, 0.0)
    plan = full_plan(ode, "heun")
    with torch.no_grad():
        m, v = p.exact_moments(ode, plan=plan)
        x0, _ = sample_x0(p, ode, 100_000, seed=7, plan=plan)
        ddim, _ = sample_x0(p, ode, 100_000, seed=7)
    se = (v / len(x0)).sqrt()
    assert ((x0.mean(0) - m).abs() < 4 * se).all(), (x0.mean(0), m)
    assert ((x0.var(0) - v).abs() < 4 * v * math.sqrt(2 / len(x0))).all(), (x0.var(0), v)
    assert (x0 - ddim).abs().max() > 1e-3                 # it is not the DDIM chain


def test_heun_leaves_stochastic_steps_to_gddim():
    p = build(8, "vp", init_scale=0.3)
    stds = gddim_stds(p.a, p.s, 1.0)
    stds[:4] = 0.0                                          # the last four steps deterministic
    plan = full_plan(stds, "heun")
    assert plan.active.tolist() == [True] * 4 + [False] * 4
    with torch.no_grad():
        mixed = p.exact_moments(stds, plan=plan)
        assert not torch.allclose(mixed[0], p.exact_moments(stds)[0])      # the last four steps differ
        x0, _ = sample_x0(p, stds, 100_000, seed=8, plan=plan)
    se = (mixed[1] / len(x0)).sqrt()
    assert ((x0.mean(0) - mixed[0]).abs() < 4 * se).all()


def test_only_heun_is_offered_for_eps_families():
    p = build(5, "vp")
    ode = gddim_stds(p.a, p.s, 0.0)
    with pytest.raises(ValueError, match="heun"):
        sample_x0(p, ode, 16, seed=0, plan=full_plan(ode, "dpmsolver2m"))
