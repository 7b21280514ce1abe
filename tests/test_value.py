"""The continuous-time critic's target and network (groundwork of the continuous-time RL issue):
the exact conditional expected reward of the Gaussian family against Monte Carlo rollouts of the
sampler's own steps, and value nets regressed on it."""
import math

import pytest
import torch

from engine.algorithms.value import ValueNet
from engine.models import gaussian
from engine.rewards.quadratic import QuadraticReward
from engine.samplers.gddim import step
from engine.spec.models import RunConfig
from engine.stages.common import sampler_stds

RUN = {"data": {"kind": "gaussian", "dim": 2, "mean": 0.5, "std": 0.8},
       "model": {"kind": "gaussian_score", "process": {"kind": "vp"}, "init_scale": 0.1},
       "sampler": {"kind": "gddim", "steps": 10, "stochasticity": 1.0},
       "algorithm": {"kind": "ddpo", "epochs": 1, "batch_size": 8}, "reward": {"kind": "quadratic", "center": 2.0}}


@pytest.fixture(scope="module")
def setting():
    cfg = RunConfig.model_validate(RUN)
    policy = gaussian.policy(cfg, {}, torch.Generator().manual_seed(3))      # a corrected (not pretrained) policy
    train_stds, _ = sampler_stds(cfg, policy)
    return policy, train_stds, QuadraticReward(2.0)


def rollout(policy, stds, x, level, g):
    """x_0 from x at `level` by the sampler's own gDDIM steps (the Monte Carlo oracle)."""
    with torch.no_grad():
        for k in range(level - 1, -1, -1):
            noise = torch.randn(x.shape, generator=g, dtype=x.dtype)
            x, _ = step(x, policy.eps(x, k), policy.a[k + 1], policy.s[k + 1], policy.a[k], policy.s[k], stds[k], noise)
    return x


@pytest.mark.parametrize("level", [3, 7, 10])
def test_the_exact_value_is_the_mean_reward_of_rollouts_from_the_state(setting, level):
    policy, stds, reward = setting
    states = torch.tensor([[0.3, -1.2], [1.5, 0.7]], dtype=torch.float64)
    exact = policy.conditional_reward(states, level, stds, reward)
    g = torch.Generator().manual_seed(11)
    for i in range(2):
        r = reward(rollout(policy, stds, states[i].expand(100_000, 2).clone(), level, g))
        se = float(r.std()) / math.sqrt(len(r))
        assert abs(float(r.mean()) - float(exact[i])) < 4 * se, (level, i, float(r.mean()), float(exact[i]), se)


def test_the_value_at_the_data_end_is_the_reward_and_at_the_start_averages_to_the_expected_reward(setting):
    policy, stds, reward = setting
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    torch.testing.assert_close(policy.conditional_reward(x, 0, stds, reward), reward(x))
    prior = policy.prior(200_000, torch.Generator().manual_seed(5))
    v = policy.conditional_reward(prior, policy.steps, stds, reward)
    with torch.no_grad():
        expected = float(reward.expectation(*policy.exact_moments(stds)))
    assert abs(float(v.mean()) - expected) < 4 * float(v.std()) / math.sqrt(len(v))


def denoiser(policy):
    """The pretrained model's x0_hat at forward time t (level round(t T)); x itself at t = 0."""
    T = policy.steps

    def x0_hat(x, t):
        level = (t * T).round().long()
        a, s = policy.a[level][:, None], policy.s[level][:, None]
        return (x - s * policy.data.eps_star(x, a, s)) / a
    return x0_hat


def value(net, x, t):
    """V with the structured form's anchor r(x0_hat), as the algorithm gives it (net.anchor_fn: the test's)."""
    return net(x, t, anchor=net.anchor_fn(x, t)) if net.structured else net(x, t)


def fit(net, policy, stds, reward, steps=1500, seed=0):
    """Regress V on the exact values at random states and levels."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    T = policy.steps
    for _ in range(steps):
        level = torch.randint(0, T + 1, (256,), generator=g)
        x = 2.0 * torch.randn(256, 2, generator=g, dtype=torch.float64)
        target = _targets(policy, stds, reward, x, level)
        loss = ((value(net, x, level.double() / T) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def _targets(policy, stds, reward, x, level):
    out = torch.empty(len(x), dtype=x.dtype)
    for lv in level.unique():
        rows = level == lv
        out[rows] = policy.conditional_reward(x[rows], int(lv), stds, reward)
    return out


def relative_error(net, policy, stds, reward):
    """Relative L2 error on the stated grid: x in a 21 x 21 grid over [-3, 3]^2, every level 0..T."""
    axis = torch.linspace(-3, 3, 21, dtype=torch.float64)
    x = torch.cartesian_prod(axis, axis)
    num = den = 0.0
    with torch.no_grad():
        for lv in range(policy.steps + 1):
            exact = policy.conditional_reward(x, lv, stds, reward)
            v = value(net, x, torch.full((len(x),), lv / policy.steps, dtype=torch.float64))
            num += float(((v - exact) ** 2).sum())
            den += float((exact ** 2).sum())
    return math.sqrt(num / den)


@pytest.mark.slow(6)
def test_a_structured_value_net_learns_the_exact_value_to_five_percent(setting):
    policy, stds, reward = setting
    torch.manual_seed(0)
    net = ValueNet(2, structured=True).double()
    x0_hat = denoiser(policy)
    net.anchor_fn = lambda x, t: reward(x0_hat(x, t))     # noqa: E731
    x = torch.randn(4, 2, dtype=torch.float64)
    torch.testing.assert_close(value(net, x, torch.zeros(4, dtype=torch.float64)), reward(x))   # V(x, 0) = r(x) by form
    before = relative_error(net, policy, stds, reward)
    err = relative_error(fit(net, policy, stds, reward, steps=600), policy, stds, reward)
    assert before > 0.05, before                       # the untrained net is not already there
    print(f"relative L2 error of the structured value net: {err:.4f}")
    assert err < 0.05, err
