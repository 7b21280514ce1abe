"""MixGRPO: GRPO with a sliding window of SDE steps (mixed ODE-SDE sampling).

Each epoch samples `prompts_per_epoch` prompts x `group_size` chains; advantages are
normalized within each prompt's group. Only the denoising steps inside the window are
stochastic (std of the training sampler) and trained; steps outside run the ODE (std 0).
The window starts at the first (noisiest) step and moves `window_stride` steps toward the
data every `iters_per_window` epochs, wrapping around. Fewer trained steps per chain is
where the speed comes from.
"""
from __future__ import annotations

import torch

from .advantages import group_scaled
from .policy_gradient import EpochStats, check_finite, collect, make_optimizer, ppo_update, regularise


def window_steps(epoch: int, cfg, T: int) -> torch.Tensor:
    """Step indices k (k = T-1 is the first denoising step) inside the window at `epoch` (1-based)."""
    starts = list(range(0, T - cfg.window_size + 1, cfg.window_stride))
    j0 = starts[((epoch - 1) // cfg.iters_per_window) % len(starts)]
    return torch.tensor([T - 1 - j for j in range(j0, j0 + cfg.window_size)])


def mixed_stds(stds: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(stds)
    out[window] = stds[window]
    return out


def train(policy, stds, reward_fn, cfg, generator, on_epoch=None, log=print, start_epoch: int = 0, optimizer=None,
          state: dict | None = None):
    """As ddpo.train; group advantages need no state across epochs (`state` is unused)."""
    opt = optimizer or make_optimizer(policy, cfg)
    T = len(stds)
    update = 0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        window = window_steps(epoch, cfg, T)
        mix = mixed_stds(stds, window)
        trained = window[(mix[window] > 0).cpu()]          # window is a CPU index; stds may be on a GPU
        prompts = policy.sample_prompts(cfg.prompts_per_epoch, generator).repeat_interleave(cfg.group_size)
        batch = collect(policy, mix, len(prompts), generator, reward_fn, prompts=prompts)
        check_finite("reward", batch.rewards, epoch)
        check_finite("log-probability", batch.logps[trained], epoch)
        groups = torch.arange(cfg.prompts_per_epoch).repeat_interleave(cfg.group_size)
        adv, chain_kl = regularise(policy, batch, mix, cfg, lambda r: group_scaled(r, groups))  # KL: window steps only
        stats = EpochStats(reward_mean=batch.rewards.mean().item(), window=window.tolist(),
                           **({"chain_kl": chain_kl} if cfg.kl_coef else {}))
        for _ in range(cfg.inner_epochs):
            mb = torch.randperm(len(prompts), generator=generator)
            stats.add(ppo_update(policy, opt, batch, adv, mb, trained, mix, cfg, epoch, update))
            update += 1
        if on_epoch is not None:
            on_epoch(epoch, stats.result())
    return opt


def evaluation_metrics(policy, train_stds, reward, method, cfg, ev: dict) -> dict:
    """reward_window: E[r] of the mixed ODE-SDE sampler with the window where training ended."""
    from ..evaluation import expected_reward
    window = window_steps(cfg.algorithm.epochs, cfg.algorithm, cfg.sampler.steps)
    mean, se = expected_reward(policy, mixed_stds(train_stds, window), reward, method, ev["samples"], ev["seed"] + 2)
    return {"reward_window": mean, "reward_window_se": se}
