"""Pieces the policy-gradient recipes share: collecting chains, the training-path
log-probabilities, and one PPO-clip update.

A policy provides a, s (the grid), eps(x, k, prompts), eps_ref(...) (or its own transition,
step_mean: engine/samplers/__init__.py), prior(n, g) and, for prompted families, sample_prompts(n, g). Deterministic steps (std = 0) carry no
log-probability and are never trained.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import distributed
from ..errors import NumericalFault
from ..samplers import chain_step
from ..samplers.gddim import log_prob, sample_chain, step_mean
from .kl import regularised, step_kl


@dataclass
class Batch:
    xs: torch.Tensor                   # [T+1, n, ...]; xs[k] is the sample at level k
    logps: torch.Tensor                # [T, n], sampling-time log-probabilities
    rewards: torch.Tensor              # [n]
    prompts: torch.Tensor | None       # [n] or None
    kl_weight: torch.Tensor | None = None   # [n] or [T, n] (per step): weight of the pathwise KL term (None: none)


def collect(policy, stds, n, generator, reward_fn, prompts=None, plan=None) -> Batch:
    """A batch of n chains. Data parallel: each rank denoises its rows, then all rows are gathered.
    plan: how its deterministic steps are taken (second_order.OdePlan; families with their own transition)."""
    if prompts is None and hasattr(policy, "sample_prompts"):
        prompts = policy.sample_prompts(n, generator)
    rows = distributed.local_rows(n)
    mine = prompts[rows] if prompts is not None else None
    with torch.no_grad():
        x_T = policy.prior(n, generator)[rows]
        out = sample_chain(lambda x, k: policy.eps(x, k, mine), policy.a, policy.s, stds, x_T, generator,
                           draw=distributed.noise_rows(n), mean_fn=chain_step(policy, mine, plan))
        rewards = reward_fn(out["x0"], mine)
        return Batch(distributed.gather_rows(out["xs"], 1), distributed.gather_rows(out["logps"], 1),
                     distributed.gather_rows(rewards), prompts)


def _shape(x):
    return (-1,) + (1,) * (x.dim() - 1)


def step_means(policy, xs, steps: torch.Tensor, stds, prompts=None, reference: bool = False):
    """Means of the step Gaussians at step indices `steps`, vectorized over steps: [S, m, ...]."""
    x_t = xs[steps + 1]
    if hasattr(policy, "step_mean"):           # a family with its own transition (samplers/__init__.py)
        return policy.step_mean(x_t, steps, stds[steps].view(_shape(x_t)).to(x_t.dtype), prompts, reference)
    fn = policy.eps_ref if reference else policy.eps
    eps = fn(x_t, steps, prompts)
    sh = _shape(x_t)
    return step_mean(x_t, eps, policy.a[steps + 1].view(sh), policy.s[steps + 1].view(sh),
                     policy.a[steps].view(sh), policy.s[steps].view(sh), stds[steps].view(sh).to(x_t.dtype))


def chain_log_probs(policy, xs, steps: torch.Tensor, stds, prompts=None) -> torch.Tensor:
    """Training-path log-probabilities [S, m] of the recorded transitions xs[k+1] -> xs[k]."""
    mean = step_means(policy, xs, steps, stds, prompts)
    return log_prob(xs[steps], mean, stds[steps].view(_shape(mean)).to(mean.dtype), batch_dims=2)


def check_finite(name, value, epoch, step=None):
    if not torch.isfinite(value).all():
        where = f"epoch {epoch}" + (f", update {step}" if step is not None else "")
        raise NumericalFault(f"non-finite {name} at {where}")


def _per_step(values: torch.Tensor, mb, steps) -> torch.Tensor:
    """[S, m] entries of per-chain values [n] (the same at every step) or per-step values [T, n]."""
    return values[steps][:, mb] if values.dim() == 2 else values[mb][None]


def _ppo_loss(policy, batch: Batch, adv, mb, steps, stds, cfg):
    """(loss, kl, clipfrac) of trajectories `mb` at step indices `steps`, each a mean over both.
    adv: per chain [n] (DDPO: one advantage for every step) or per step [T, n] (a critic's)."""
    xs = batch.xs[:, mb]
    prompts = batch.prompts[mb] if batch.prompts is not None else None
    mean = step_means(policy, xs, steps, stds, prompts)
    sh = _shape(mean)
    std = stds[steps].view(sh).to(mean.dtype)
    logp = log_prob(xs[steps], mean, std, batch_dims=2)
    log_ratio = logp - batch.logps[steps][:, mb]
    if cfg.ratio_reduction == "mean":     # DDPO's practice: a per-dimension ratio, so the clip
        log_ratio = log_ratio / mean[0, 0].numel()   # range does not depend on the image size
    ratio = torch.exp(log_ratio)
    a = _per_step(adv, mb, steps)
    loss = torch.maximum(-a * ratio, -a * ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range)).mean()
    kl = torch.zeros((), dtype=loss.dtype)
    if batch.kl_weight is not None:          # the pathwise part of grad(E[r] - beta KL) (engine/algorithms/kl.py)
        with torch.no_grad():
            ref = step_means(policy, xs, steps, stds, prompts, reference=True)
        step = step_kl(mean, ref, std)                                  # [S, m]
        if cfg.ratio_reduction == "mean":    # on the scale of the per-dimension log-ratio
            step = step / mean[0, 0].numel()
        loss = loss + (step * _per_step(batch.kl_weight, mb, steps)).mean()
        kl = step.detach().mean()
    return loss, kl, ((ratio.detach() - 1).abs() > cfg.clip_range).double().mean()


def step_kls(policy, xs: torch.Tensor, stds: torch.Tensor, prompts=None) -> torch.Tensor:
    """Per-step KL [T, n] of recorded chains (0 at deterministic steps): the terms chain_kl sums."""
    out = torch.zeros(len(stds), xs.shape[1], dtype=xs.dtype, device=xs.device)
    steps = torch.nonzero(stds > 0).flatten()
    if len(steps):
        with torch.no_grad():
            mean = step_means(policy, xs, steps, stds, prompts)
            ref = step_means(policy, xs, steps, stds, prompts, reference=True)
            out[steps] = step_kl(mean, ref, stds[steps].view(_shape(mean)).to(mean.dtype)).to(out.dtype)
    return out


def chain_kl(policy, xs: torch.Tensor, stds: torch.Tensor, prompts=None) -> torch.Tensor:
    """Per-chain KL [n] of recorded chains xs [T+1, n, ...]: the sum of step KLs over the stochastic steps."""
    steps = torch.nonzero(stds > 0).flatten()
    if len(steps) == 0:
        return torch.zeros(xs.shape[1], dtype=xs.dtype)
    with torch.no_grad():
        mean = step_means(policy, xs, steps, stds, prompts)
        ref = step_means(policy, xs, steps, stds, prompts, reference=True)
        std = stds[steps].view((-1,) + (1,) * (mean.dim() - 1)).to(mean.dtype)
        return step_kl(mean, ref, std).sum(0)


def regularise(policy, batch: Batch, stds, cfg, normalize):
    """Advantages of the regularised reward R = sign r - beta KL (kl.py), and the pathwise KL weights.

    normalize(R) -> (advantages, per-chain scale). beta = 0: the advantages of sign r as before
    (bitwise) and no KL term. Returns (advantages, mean chain KL) and sets batch.kl_weight."""
    beta = cfg.kl_coef
    if beta == 0:
        adv, _ = normalize(batch.rewards)
        return cfg.advantage_sign * adv.clamp(-cfg.adv_clip_max, cfg.adv_clip_max), 0.0
    chain = chain_kl(policy, batch.xs, stds, batch.prompts)
    adv, scale = normalize(regularised(cfg.advantage_sign * batch.rewards, chain, beta))
    batch.kl_weight = beta * scale
    return adv.clamp(-cfg.adv_clip_max, cfg.adv_clip_max), chain.mean().item()


def ppo_update(policy, opt, batch: Batch, adv, mb, steps, stds, cfg, epoch, update) -> dict:
    """One PPO-clip minibatch update over trajectories `mb` at step indices `steps`.

    A policy may bound memory with `steps_per_backward`: the steps then go through backward in
    chunks, each chunk's mean loss weighted by its share of the steps, which sums to the same
    gradient as one pass (by default all steps go in one pass). Data parallel: each rank takes
    its share of `mb`; gradients and statistics are summed over ranks, weighted by the shares."""
    mb, weight = distributed.shard(mb)
    opt.zero_grad()
    out = {"loss": 0.0, "kl": 0.0, "clipfrac": 0.0}
    for part in steps.split(max(1, getattr(policy, "steps_per_backward", len(steps)))):
        w = len(part) / len(steps)
        loss, kl, clipfrac = _ppo_loss(policy, batch, adv, mb, part, stds, cfg)
        check_finite("loss", distributed.reduce_scalar(loss, weight), epoch, update)
        (w * loss).backward()
        for k, v in (("loss", loss), ("kl", kl), ("clipfrac", clipfrac)):
            out[k] += w * v.item()
    distributed.reduce_gradients(trainable_parameters(policy), weight)
    torch.nn.utils.clip_grad_norm_(trainable_parameters(policy), cfg.max_grad_norm)
    opt.step()
    return distributed.reduce_stats(out, weight)


def ppo_epoch(policy, opt, batch: Batch, adv, trainable, n_train: int, stds, cfg, epoch: int, update: int,
              generator, stats) -> int:
    """One epoch's `inner_epochs` passes of minibatch updates, each minibatch over a random `n_train` of the
    `trainable` steps (DDPO's and ctrl-PPO's); returns the running update count."""
    for _ in range(cfg.inner_epochs):
        perm = torch.randperm(cfg.batch_size, generator=generator)
        for mb in perm.chunk(cfg.minibatches):
            steps = trainable[torch.randperm(len(trainable), generator=generator)[:n_train]]
            stats.add(ppo_update(policy, opt, batch, adv, mb, steps, stds, cfg, epoch, update))
            update += 1
    return update


def trainable_parameters(policy):
    return [p for p in policy.parameters() if p.requires_grad]


def make_optimizer(policy, cfg):
    """The optimizer DDPO and MixGRPO train with (made by the caller to restore a checkpoint into it)."""
    return torch.optim.Adam(trainable_parameters(policy), lr=cfg.lr)


class EpochStats:
    """Mean loss, KL and clip fraction over an epoch's updates, plus fixed entries."""

    KEYS = ("loss", "kl", "clipfrac")

    def __init__(self, **fixed):
        self.fixed, self.sums, self.count = fixed, dict.fromkeys(self.KEYS, 0.0), 0

    def add(self, out: dict) -> None:
        for k in self.KEYS:
            self.sums[k] += out[k]
        self.count += 1

    def result(self) -> dict:
        return {**self.fixed, **{k: v / max(self.count, 1) for k, v in self.sums.items()}}
