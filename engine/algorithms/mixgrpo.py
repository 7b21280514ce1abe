"""MixGRPO: GRPO with a sliding window of SDE steps (mixed ODE-SDE sampling), on any sampler.

Each epoch samples `prompts_per_epoch` prompts x `group_size` chains; advantages are
normalized within each prompt's group. Only the denoising steps inside the window are
stochastic (std of the training sampler) and trained; steps outside run the ODE (std 0).
Fewer trained steps per chain is where the speed comes from. The window's place each epoch
(`schedule`): progressive starts at the first (noisiest) step and moves `window_stride` steps
toward the data every `iters_per_window` epochs, wrapping around; random draws its start each
epoch (from the run's seed and the epoch, so evaluation finds the same window); fixed stays at
`window_start`. `variant: full_sde` puts every step in the window: full-SDE GRPO (DanceGRPO-style).

MixGRPO-Flash (`variant: flash`: `ode_solver: dpmsolver2m`, `ode_compress: 0.4`, the authors' scripts): the
steps after the window are taken by DPM-Solver++(2M), fewer and longer (samplers/second_order.py),
for families with their own transition (the rectified flow); `heun` is the one-step alternative. Seconds per epoch are measured around sampling and updates and kept in the
algorithm's state (so they survive a resume); they are outputs, never compared across reruns.
"""
from __future__ import annotations

import statistics
import time

import torch

from ..samplers.second_order import OdePlan, compressed_landings
from .advantages import group_scaled
from .policy_gradient import EpochStats, check_finite, collect, make_optimizer, ppo_update, regularise

RANDOM_WINDOW_SEED = 1_000_033


def window_steps(epoch: int, cfg, T: int, seed: int = 0) -> torch.Tensor:
    """Step indices k (k = T-1 is the first denoising step) inside the window at `epoch` (1-based)."""
    size = cfg.window_length(T)
    starts = list(range(0, T - size + 1, cfg.window_stride))
    if cfg.schedule == "fixed":
        j0 = cfg.window_start
    elif cfg.schedule == "random":
        g = torch.Generator().manual_seed(RANDOM_WINDOW_SEED * (seed + 1) + epoch)
        j0 = starts[int(torch.randint(len(starts), (1,), generator=g))]
    else:
        j0 = starts[((epoch - 1) // cfg.iters_per_window) % len(starts)]
    return torch.tensor([T - 1 - j for j in range(j0, j0 + size)])


def ode_plan(mix: torch.Tensor, window: torch.Tensor, cfg) -> OdePlan | None:
    """MixGRPO-Flash: the steps after the window (toward the data) by `ode_solver`, `ode_compress`
    of them kept (second_order.compressed_landings); steps before the window stay Euler. None: all
    deterministic steps Euler (MixGRPO)."""
    solver, keep = cfg.solver, cfg.compress
    if solver == "euler" and keep == 1.0:
        return None
    active = torch.zeros(len(mix), dtype=torch.bool)
    active[:int(window.min())] = True
    return OdePlan(solver, active, compressed_landings(active, keep) if keep < 1.0 else active.clone())


def mixed_stds(stds: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(stds)
    out[window] = stds[window]
    return out


def train(policy, stds, reward_fn, cfg, generator, on_epoch=None, log=print, start_epoch: int = 0, optimizer=None,
          state: dict | None = None, seed: int = 0):
    """As ddpo.train; group advantages need no state across epochs. `state` keeps the epochs' wall
    seconds (train_metrics); `seed` places the random schedule's windows."""
    opt = optimizer or make_optimizer(policy, cfg)
    state = {} if state is None else state
    seconds = state.setdefault("epoch_seconds", [])
    state.setdefault("warm_up", []).append(len(seconds))     # this process's first epoch (a resume starts one)
    T = len(stds)
    update = 0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        started = time.perf_counter()
        window = window_steps(epoch, cfg, T, seed)
        mix = mixed_stds(stds, window)
        trained = window[(mix[window] > 0).cpu()]          # window is a CPU index; stds may be on a GPU
        prompts = policy.sample_prompts(cfg.prompts_per_epoch, generator).repeat_interleave(cfg.group_size)
        batch = collect(policy, mix, len(prompts), generator, reward_fn, prompts=prompts,
                        plan=ode_plan(mix, window, cfg))
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
        seconds.append(time.perf_counter() - started)
        if on_epoch is not None:
            on_epoch(epoch, stats.result())
    return opt


def train_metrics(state: dict) -> dict:
    """seconds_per_epoch: the median over epochs, each process's first epoch (its warm-up; a resumed
    run has two) dropped when others remain; train_seconds: their sum (epochs before a resume included)."""
    seconds = state.get("epoch_seconds", [])
    if not seconds:
        return {}
    warm = set(state.get("warm_up", [0]))
    steady = [s for i, s in enumerate(seconds) if i not in warm] or seconds
    return {"seconds_per_epoch": statistics.median(steady), "train_seconds": sum(seconds)}


def evaluation_metrics(policy, train_stds, reward, method, cfg, ev: dict) -> dict:
    """reward_window: E[r] of the mixed ODE-SDE sampler with the window where training ended
    (Flash: its solver after it)."""
    from ..evaluation import expected_reward
    window = window_steps(cfg.algorithm.epochs, cfg.algorithm, cfg.sampler.steps, cfg.seed)
    mix = mixed_stds(train_stds, window)
    mean, se = expected_reward(policy, mix, reward, method, ev["samples"], ev["seed"] + 2,
                               plan=ode_plan(mix, window, cfg.algorithm))
    return {"reward_window": mean, "reward_window_se": se}
