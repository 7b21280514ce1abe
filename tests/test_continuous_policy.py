"""The Gaussian family's continuous-time correction (groundwork of the continuous-time RL issue):
one theta gives the same correction at the same time whatever the step count, its exact moments
match sampling, it round-trips through the model contract, and DDPO moves it with the sign of its
advantages."""
import math

import pytest
import torch

from engine.algorithms import ddpo
from engine.algorithms.ddpo_kind import DDPOAlgorithm
from engine.evaluation import expected_reward, sample_x0
from engine.models import gaussian
from engine.rewards.quadratic import QuadraticReward
from engine.spec.models import RunConfig
from engine.stages.common import sampler_stds

RUN = {"data": {"kind": "gaussian", "dim": 2, "mean": 0.3, "std": 0.9},
       "model": {"kind": "gaussian_score", "process": {"kind": "vp"}, "correction": "continuous", "time_degree": 3,
                 "init_scale": 0.2},
       "sampler": {"kind": "gddim", "steps": 10, "stochasticity": 1.0},
       "algorithm": {"kind": "ddpo", "epochs": 10, "batch_size": 64, "lr": 1e-2},
       "reward": {"kind": "quadratic", "center": 2.0}}


def build(steps=10, process="vp", **model):
    cfg = RunConfig.model_validate({**RUN, "model": {**RUN["model"], "process": {"kind": process}, **model},
                                    "sampler": {**RUN["sampler"], "steps": steps}})
    return cfg, gaussian.policy(cfg, {}, torch.Generator().manual_seed(1))


@pytest.mark.parametrize("process", ["vp", "ve"])
def test_one_theta_gives_the_same_correction_at_the_same_time_at_any_step_count(process):
    _, p10 = build(10, process)
    _, p28 = build(28, process)
    assert torch.equal(p10.theta_A, p28.theta_A)                     # same seed, same parameters
    if process == "vp":                                             # t = level / T: level 5 of 10 is level 14 of 28
        torch.testing.assert_close(p10.A[4], p28.A[13])
    else:                                                           # sigma's position: level 1 is sigma_min in both
        torch.testing.assert_close(p10.A[0], p28.A[0])
        torch.testing.assert_close(p10.b[-1], p28.b[-1])            # and level T is sigma_max
    assert not torch.equal(p10.A[0], p10.A[-1])                     # it does vary in time


def test_zero_parameters_are_the_pretrained_model_and_per_step_stays_the_default():
    cfg, p = build(init_scale=0.0)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert torch.equal(p.eps(x, 3), p.eps_ref(x, 3))
    assert set(dict(p.named_parameters())) == {"theta_A", "theta_b"}
    default = RunConfig.model_validate({**RUN, "model": {"kind": "gaussian_score", "process": {"kind": "vp"}}})
    assert set(dict(gaussian.policy(default, {}).named_parameters())) == {"A", "b"}


def test_exact_moments_match_sampling():
    cfg, p = build()
    train, _ = sampler_stds(cfg, p)
    with torch.no_grad():
        m, v = p.exact_moments(train)
        x0, _ = sample_x0(p, train, 200_000, seed=3)
    se_m = (v / len(x0)).sqrt()
    assert ((x0.mean(0) - m).abs() < 4 * se_m).all(), (x0.mean(0), m)
    assert ((x0.var(0) - v).abs() < 4 * v * math.sqrt(2 / len(x0))).all(), (x0.var(0), v)


def test_the_model_contract_round_trips_the_continuous_parameters(tmp_path):
    cfg, p = build()
    gaussian.save_trained(p, tmp_path)
    q = gaussian.finetuned(cfg, {}, tmp_path, torch.Generator().manual_seed(9))
    assert torch.equal(q.theta_A, p.theta_A) and torch.equal(q.theta_b, p.theta_b)


@pytest.mark.parametrize("sign", [1, -1])
def test_ddpo_moves_the_continuous_policy_with_the_sign_of_its_advantages(sign):
    cfg, p = build(init_scale=0.0)
    reward = QuadraticReward(2.0)
    train, ode = sampler_stds(cfg, p)
    before, _ = expected_reward(p, ode, reward, "exact")
    alg = DDPOAlgorithm(kind="ddpo", epochs=10, batch_size=64, lr=1e-2, advantage_sign=sign)
    ddpo.train(p, train, reward, alg, torch.Generator().manual_seed(4))
    after, _ = expected_reward(p, ode, reward, "exact")
    assert sign * (after - before) > 0.05, (sign, before, after)
