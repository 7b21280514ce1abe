"""DDPO (Black et al. 2023): PPO-clip on the per-step log-probability ratios of sampled chains.

One epoch: sample a batch of chains with the current policy (no grad), score x0, normalize
advantages (per prompt with running statistics once a prompt has `stats_min_count`
rewards, else batch statistics), then `inner_epochs` passes of minibatch updates over a
random `timestep_fraction` of the stochastic steps. kl_coef = beta > 0 maximises
E[r] - beta KL(chains || pretrained chains) (engine/algorithms/kl.py).
"""
from __future__ import annotations

import math

import torch

from .advantages import PerPromptStats, batch_scaled
from .policy_gradient import (Batch, EpochStats, chain_log_probs, check_finite, collect, make_optimizer,
                              ppo_epoch, regularise)

__all__ = ["train", "collect", "chain_log_probs", "make_optimizer", "Batch"]


def train(policy, stds, reward_fn, cfg, generator, on_epoch=None, log=print, start_epoch: int = 0, optimizer=None,
          state: dict | None = None, seed: int = 0):
    """Run epochs start_epoch+1 .. cfg.epochs. `on_epoch(epoch, stats)` is called after each.
    `seed` (the run's) is unused: every chain's noise comes from `generator`.

    state: a dict the caller checkpoints; it holds the per-prompt advantage statistics
    ("advantage_stats", JSON-ready), read when resuming and refreshed before each on_epoch."""
    opt = optimizer or make_optimizer(policy, cfg)
    trainable = torch.nonzero(stds > 0).flatten()
    n_train = max(1, math.ceil(cfg.timestep_fraction * len(trainable)))
    tracker = PerPromptStats(cfg.stats_buffer, cfg.stats_min_count)
    state = {} if state is None else state
    tracker.load_state(state.get("advantage_stats", {}))
    update = 0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        batch = collect(policy, stds, cfg.batch_size, generator, reward_fn)
        check_finite("reward", batch.rewards, epoch)
        check_finite("log-probability", batch.logps[trainable], epoch)
        if batch.prompts is not None:
            normalize = lambda r: tracker.scaled(batch.prompts.tolist(), r)   # noqa: E731
        else:
            normalize = batch_scaled
        adv, chain_kl = regularise(policy, batch, stds, cfg, normalize)
        stats = EpochStats(reward_mean=batch.rewards.mean().item(), **({"chain_kl": chain_kl} if cfg.kl_coef else {}))
        update = ppo_epoch(policy, opt, batch, adv, trainable, n_train, stds, cfg, epoch, update, generator, stats)
        state["advantage_stats"] = tracker.state()
        if on_epoch is not None:
            on_epoch(epoch, stats.result())
    return opt
