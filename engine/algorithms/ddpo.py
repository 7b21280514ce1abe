"""DDPO (Black et al. 2023): PPO-clip on the per-step log-probability ratios of sampled chains.

One epoch: sample a batch of chains with the current policy (no grad), score x0, normalize
advantages, then `inner_epochs` passes of minibatch updates over a `timestep_fraction` of the
stochastic steps. Deterministic steps (std = 0, e.g. the last one) carry no log-probability
and are never trained. Optional KL to the pretrained policy: per step
|mu_theta - mu_ref|^2 / (2 std^2), the KL between the two step Gaussians.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import NumericalFault
from ..samplers.gddim import log_prob, sample_chain, step_mean
from .advantages import batch_normalize


@dataclass
class Batch:
    xs: torch.Tensor          # [T+1, n, ...]
    logps: torch.Tensor       # [T, n]
    rewards: torch.Tensor     # [n]


def collect(policy, stds, n, generator, reward_fn) -> Batch:
    with torch.no_grad():
        x_T = policy.prior(n, generator)
        out = sample_chain(policy.eps, policy.a, policy.s, stds, x_T, generator)
        return Batch(out["xs"], out["logps"], reward_fn(out["x0"]))


def step_means(policy, xs, steps: torch.Tensor, stds, eps_fn=None):
    """Means of the step Gaussians at step indices `steps` (vectorized over steps)."""
    eps_fn = eps_fn or policy.eps
    x_t = xs[steps + 1]                                   # [S, m, ...]
    shape = (-1,) + (1,) * (x_t.dim() - 1)
    eps = eps_fn(x_t, steps)
    return step_mean(x_t, eps, policy.a[steps + 1].view(shape), policy.s[steps + 1].view(shape),
                     policy.a[steps].view(shape), policy.s[steps].view(shape), stds[steps].view(shape))


def chain_log_probs(policy, xs, steps: torch.Tensor, stds) -> torch.Tensor:
    """Training-path log-probabilities [S, m] of the recorded transitions xs[k+1] -> xs[k]."""
    shape = (-1,) + (1,) * (xs.dim() - 1)
    mean = step_means(policy, xs, steps, stds)
    return log_prob(xs[steps], mean, stds[steps].view(shape), batch_dims=2)


def _check(name, value, epoch, step=None):
    if not torch.isfinite(value).all():
        where = f"epoch {epoch}" + (f", update {step}" if step is not None else "")
        raise NumericalFault(f"non-finite {name} at {where}")


def make_optimizer(policy, cfg):
    """The optimizer `train` uses (made by the caller to restore a checkpoint into it)."""
    return torch.optim.Adam(policy.parameters(), lr=cfg.lr)


def train(policy, stds, reward_fn, cfg, generator, on_epoch=None, log=print, start_epoch: int = 0, optimizer=None):
    """Run epochs start_epoch+1 .. cfg.epochs. `on_epoch(epoch, stats)` is called after each."""
    opt = optimizer or make_optimizer(policy, cfg)
    trainable = torch.nonzero(stds > 0).flatten()
    n_train = max(1, math.ceil(cfg.timestep_fraction * len(trainable)))
    update = 0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        batch = collect(policy, stds, cfg.batch_size, generator, reward_fn)
        _check("reward", batch.rewards, epoch)
        _check("log-probability", batch.logps[trainable], epoch)
        adv = batch_normalize(batch.rewards).clamp(-cfg.adv_clip_max, cfg.adv_clip_max)
        stats = {"reward_mean": batch.rewards.mean().item(), "loss": 0.0, "clipfrac": 0.0, "kl": 0.0}
        count = 0
        for _ in range(cfg.inner_epochs):
            perm = torch.randperm(cfg.batch_size, generator=generator)
            for mb in perm.chunk(cfg.minibatches):
                steps = trainable[torch.randperm(len(trainable), generator=generator)[:n_train]]
                xs = batch.xs[:, mb]
                logp = chain_log_probs(policy, xs, steps, stds)
                ratio = torch.exp(logp - batch.logps[steps][:, mb])
                a = adv[mb][None]
                loss = torch.maximum(-a * ratio, -a * ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range)).mean()
                kl = torch.zeros((), dtype=loss.dtype)
                if cfg.kl_coef > 0:
                    mean = step_means(policy, xs, steps, stds)
                    with torch.no_grad():
                        ref = step_means(policy, xs, steps, stds, eps_fn=policy.eps_ref)
                    var = (stds[steps] ** 2).view((-1,) + (1,) * (xs.dim() - 1))
                    kl = (((mean - ref) ** 2) / (2 * var)).flatten(2).sum(-1).mean()
                    loss = loss + cfg.kl_coef * kl
                _check("loss", loss, epoch, update)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                opt.step()
                update += 1
                count += 1
                stats["loss"] += loss.item()
                stats["kl"] += kl.item()
                stats["clipfrac"] += ((ratio - 1).abs() > cfg.clip_range).double().mean().item()
        for k in ("loss", "kl", "clipfrac"):
            stats[k] /= max(count, 1)
        if on_epoch is not None:
            on_epoch(epoch, stats)
    return opt
