"""The sign check of every algorithm, in-process: with the advantages as they are the reward
of the ODE sampler rises, with them negated it falls. DDPO runs on the exact Gaussian family
(expected rewards in closed form, no sampling noise in the verdict); MixGRPO needs prompts, so
it runs one small neural check on a tiny class-conditional UNet with a brightness reward,
judged on shared held-out noises by more than MARGIN_SE paired standard errors."""
import math

import pytest
import torch

from engine.algorithms import ddpo, mixgrpo
from engine.algorithms.ddpo_kind import DDPOAlgorithm
from engine.algorithms.mixgrpo_kind import MixGRPOAlgorithm
from engine.evaluation import expected_reward, sample_x0
from engine.models import gaussian
from engine.models.unet import UNetPolicy, build_unet
from engine.models.unet_kind import Pretrain, UNetModel
from engine.rewards.quadratic import QuadraticReward
from engine.spec.models import RunConfig
from engine.stages.common import sampler_stds

MARGIN_SE = 3.0
GAUSSIAN = {"data": {"kind": "gaussian", "dim": 2}, "model": {"kind": "gaussian_score", "process": {"kind": "vp"}},
            "sampler": {"kind": "gddim", "steps": 10, "stochasticity": 1.0},
            "algorithm": {"kind": "ddpo", "epochs": 10, "batch_size": 64, "lr": 1e-2},
            "reward": {"kind": "quadratic", "center": 2.0}}


@pytest.mark.parametrize("sign", [1, -1])
def test_ddpo_moves_the_exact_gaussian_reward_with_the_sign_of_its_advantages(sign):
    cfg = RunConfig.model_validate(GAUSSIAN)
    torch.manual_seed(0)
    policy = gaussian.policy(cfg, {}, torch.Generator().manual_seed(0))
    reward = QuadraticReward(cfg.reward.center, cfg.reward.scale)
    train_stds, ode_stds = sampler_stds(cfg, policy)
    before, _ = expected_reward(policy, ode_stds, reward, "exact")
    alg = DDPOAlgorithm(kind="ddpo", epochs=10, batch_size=64, lr=1e-2, advantage_sign=sign)
    ddpo.train(policy, train_stds, reward, alg, torch.Generator().manual_seed(1))
    after, _ = expected_reward(policy, ode_stds, reward, "exact")
    print(f"ddpo sign {sign}: {before:.4f} -> {after:.4f}")
    assert sign * (after - before) > 0.05, (sign, before, after)


def brightness(x, prompts=None):
    return x.float().flatten(1).mean(1)


def tiny_policy(family: str):
    """A tiny class-conditional UNet as the digits family (DDPM, gDDIM steps) or the flow family
    (rectified flow, flow-SDE steps), with its training and ODE stds."""
    torch.manual_seed(0)
    unet = build_unet(UNetModel(kind="unet", channels=[8, 16], norm_groups=4), 8)
    if family == "flow_unet":
        from engine.models.flow_unet import FlowUNetPolicy
        from engine.samplers import flow_sde
        policy = FlowUNetPolicy(unet, steps=6, shift=1.0, size=8)
        sde = flow_sde.step_stds(type("S", (), {"stochasticity": 1.0})(), policy.a, policy.s)
        return policy, sde, torch.zeros_like(sde)
    policy = UNetPolicy(unet, Pretrain(), steps=6, size=8)
    sampler = RunConfig.model_validate({**GAUSSIAN, "sampler": {"kind": "gddim", "steps": 6, "stochasticity": 1.0}})
    return (policy, *sampler_stds(sampler, policy))


@pytest.mark.slow(17)
@pytest.mark.parametrize("family,variant", [("unet", "mixgrpo"), ("flow_unet", "flash")])
@pytest.mark.parametrize("sign", [1, -1])
def test_mixgrpo_moves_a_neural_reward_with_the_sign_of_its_advantages(sign, family, variant):
    """On the digits family, and on the flow family as MixGRPO-Flash (flow SDE in the window,
    DPM-Solver++(2M) compressed after it)."""
    policy, train_stds, ode_stds = tiny_policy(family)
    n = 128

    def rewards():
        with torch.no_grad():
            x0, prompts = sample_x0(policy, ode_stds, n, seed=123)
        return brightness(x0)

    before = rewards()
    alg = MixGRPOAlgorithm(kind="mixgrpo", epochs=8, prompts_per_epoch=4, group_size=8, lr=3e-4, window_size=2,
                           iters_per_window=2, advantage_sign=sign, variant=variant)
    mixgrpo.train(policy, train_stds, brightness, alg, torch.Generator().manual_seed(1))
    diff = rewards() - before                        # paired: the same noises before and after
    moved, se = diff.mean().item(), diff.std().item() / math.sqrt(n)
    print(f"{variant} on {family}, sign {sign}: {moved:+.4f} ± {se:.4f}")
    assert sign * moved > MARGIN_SE * se > 0, (sign, moved, se)
