"""ctrl-PPO: continuous-time RL fine-tuning with the score as the action (arXiv 2409.08400, 2502.01819).

The sampler's steps are an Euler-Maruyama discretisation of the reverse SDE whose drift carries the
model's score: the policy's action at (x_t, t) is the score, and each stochastic step is Gaussian with the
sampler's std, so the policy ratio and PPO's clip are those of that Gaussian transition
(policy_gradient._ppo_loss; `ratio_reduction: mean` is the authors' per-dimension log-ratio). The
difference from DDPO is where credit comes from. A value network V(x, t) (value.py; structured or plain)
is regressed each epoch, before the policy moves, on the (regularised) return-to-go of every trained
state of the epoch's chains, and gives per-step advantages by GAE over the chain's levels (no discount,
terminal reward; lambda 0 is TD(0), A_k = V(x_k) - V(x_{k+1}) - beta KL_k, as the authors' SD 1.5 code),
normalised per step over the batch. V at level 0 is the reward itself, and at a level no trained step
starts from (the level before gDDIM's last, deterministic step) the realised return.

The KL regulariser is the shared one (kl.py): KL_k = |mu_theta - mu_pre|^2 / (2 std_k^2) per stochastic
step (the discretisation of 1/2 int g^2 |s_theta - s_pre|^2 dt), a per-step cost in the return
(score-function part) and differentiated at the sampled states with the step's advantage scale
(pathwise part). The value net lives on the policy as its `critic` submodule, trained by the same
optimizer (its own parameter group and learning rate), so the core's checkpoint holds it and its Adam
state with the policy's. `critic: none` is DDPO (ddpo.train), the papers' discrete-time baseline.
"""
from __future__ import annotations

import math

import torch

from .. import distributed
from . import ddpo
from .policy_gradient import EpochStats, check_finite, collect, ppo_epoch, step_kls
from .value import ValueNet, denoised, noise_time

ADV_EPS = 1e-8


def _prompt_count(policy) -> int:
    return int(getattr(policy, "num_prompts", 0))


def make_optimizer(policy, cfg):
    """The optimizer of the policy and, with a critic, of the value net: the net is attached to the
    policy as `critic` first (so the checkpoint holds both) and gets its own parameter group."""
    if cfg.critic == "none":
        return ddpo.make_optimizer(policy, cfg)
    params = [p for n, p in policy.named_parameters() if p.requires_grad and not n.startswith("critic.")]
    if not hasattr(policy, "critic"):
        dim = policy.prior(1, torch.Generator().manual_seed(0))[0].numel()
        net = ValueNet(dim, cfg.value_hidden, cfg.critic == "structured", _prompt_count(policy))
        policy.add_module("critic", net.to(device=policy.a.device, dtype=policy.prior(1, torch.Generator())[0].dtype))
    return torch.optim.Adam([{"params": params, "lr": cfg.lr},
                             {"params": list(policy.critic.parameters()), "lr": cfg.value_lr}])


def returns_to_go(rewards: torch.Tensor, kls: torch.Tensor | None, beta: float) -> torch.Tensor:
    """G [T+1, n]: the regularised return from level j, r - beta * sum_{k < j} KL_k (G_0 = r)."""
    T = 0 if kls is None else len(kls)
    if kls is None or beta == 0:
        return rewards.expand(T + 1 if kls is not None else 1, -1).clone()
    costs = torch.cat([torch.zeros_like(kls[:1]), torch.cumsum(kls, 0)])      # sum_{k < j} KL_k
    return rewards[None] - beta * costs


def gae(values: torch.Tensor, kls: torch.Tensor, beta: float, lam: float) -> torch.Tensor:
    """Advantages [T, n] of steps k (level k+1 -> k) from values V [T+1, n] (V[0] = r): delta_k =
    V_k - V_{k+1} - beta KL_k, A_k = delta_k + lam A_{k-1} (the steps after k are k-1 ... 0)."""
    delta = values[:-1] - values[1:] - beta * kls
    out = torch.zeros_like(delta)
    running = torch.zeros_like(delta[0])
    for k in range(len(delta)):
        running = delta[k] + lam * running
        out[k] = running
    return out


def per_step_normalised(adv: torch.Tensor, steps: torch.Tensor):
    """(advantages normalised per step over the batch at `steps`, each step's scale 1/std) [T, n]."""
    out, scale = torch.zeros_like(adv), torch.zeros_like(adv)
    a = adv[steps]
    inv = 1.0 / (a.std(1, keepdim=True) + ADV_EPS)
    out[steps] = (a - a.mean(1, keepdim=True)) * inv
    scale[steps] = inv.expand_as(a)
    return out, scale


class Critic:
    """The epoch's view of the value net: the states it is fit on and their anchors."""

    def __init__(self, policy, cfg, reward_fn):
        self.policy, self.cfg, self.reward_fn = policy, cfg, reward_fn
        self.net = policy.critic
        self.times = noise_time(policy)

    def anchors(self, xs, levels, prompts, sign):
        """r(x0_hat) [L, n] at each level in `levels` (structured form; zeros for the plain net). Data
        parallel: each rank scores its rows, then all rows are gathered (as the chains' rewards)."""
        n = xs.shape[1]
        out = torch.zeros(len(levels), n, dtype=xs.dtype, device=xs.device)
        if self.net.structured:
            rows = distributed.local_rows(n)
            mine = prompts[rows] if prompts is not None else None
            with torch.no_grad():
                for i, lv in enumerate(levels.tolist()):
                    r = self.reward_fn(denoised(self.policy, xs[lv][rows], lv - 1, mine), mine)
                    out[i] = sign * distributed.gather_rows(r).to(device=xs.device, dtype=xs.dtype)
        return out

    def values(self, xs, levels, anchors, prompts):
        """V [L, n] at the levels (with grad through the net)."""
        L, n = len(levels), xs.shape[1]
        x = xs[levels].flatten(0, 1)
        t = self.times[levels].to(x.dtype).repeat_interleave(n)
        p = prompts.repeat(L) if prompts is not None else None
        return self.net(x, t, anchors.flatten(), p).view(L, n)

    def fit(self, opt, xs, levels, anchors, targets, prompts, generator) -> float:
        """`value_updates` Adam steps of MSE on random (state, target) pairs; the mean loss."""
        L, n = len(levels), xs.shape[1]
        total = 0.0
        for _ in range(self.cfg.value_updates):      # every rank fits the same net on the same gathered rows
            idx = torch.randint(0, L * n, (min(self.cfg.value_batch, L * n),), generator=generator).to(xs.device)
            li, ci = idx // n, idx % n
            x = xs[levels[li], ci]
            t = self.times[levels[li]].to(x.dtype)
            p = prompts[ci] if prompts is not None else None
            loss = ((self.net(x, t, anchors[li, ci], p) - targets[li, ci]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.max_grad_norm)
            opt.step()
            total += loss.item()
        return total / self.cfg.value_updates


def train(policy, stds, reward_fn, cfg, generator, on_epoch=None, log=print, start_epoch: int = 0, optimizer=None,
          state: dict | None = None, seed: int = 0):
    """Run epochs start_epoch+1 .. cfg.epochs (the contract of ddpo.train). state: JSON the caller
    checkpoints (DDPO's advantage statistics with critic none; the reward queries per epoch)."""
    state = {} if state is None else state
    state["reward_queries_per_epoch"] = cfg.batch_size
    if cfg.critic == "none":
        return ddpo.train(policy, stds, reward_fn, cfg, generator, on_epoch, log, start_epoch, optimizer, state, seed)
    opt = optimizer or make_optimizer(policy, cfg)
    critic = Critic(policy, cfg, reward_fn)
    trainable = torch.nonzero(stds > 0).flatten()
    n_train = max(1, math.ceil(cfg.timestep_fraction * len(trainable)))
    levels = trainable + 1                          # the states the trained steps start from
    T, beta, sign = len(stds), cfg.kl_coef, cfg.advantage_sign
    update = 0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        batch = collect(policy, stds, cfg.batch_size, generator, reward_fn)
        check_finite("reward", batch.rewards, epoch)
        check_finite("log-probability", batch.logps[trainable], epoch)
        kls = (step_kls(policy, batch.xs, stds, batch.prompts) if beta else
               torch.zeros(T, cfg.batch_size, dtype=batch.xs.dtype)).to(batch.xs.device)
        G = returns_to_go(sign * batch.rewards.to(device=batch.xs.device, dtype=batch.xs.dtype), kls, beta)  # [T+1, n]
        anchors = critic.anchors(batch.xs, levels, batch.prompts, sign)
        value_loss = critic.fit(opt, batch.xs, levels, anchors, G[levels], batch.prompts, generator)
        values = G.clone()                          # realised returns where no stochastic step remains
        with torch.no_grad():
            values[levels] = critic.values(batch.xs, levels, anchors, batch.prompts).to(values.dtype)
        check_finite("value", values, epoch)
        adv, scale = per_step_normalised(gae(values, kls, beta, cfg.gae_lambda), trainable)
        adv = adv.clamp(-cfg.adv_clip_max, cfg.adv_clip_max)
        if beta:
            batch.kl_weight = beta * scale          # the pathwise KL part on each step's advantage scale
        stats = EpochStats(reward_mean=batch.rewards.mean().item(), value_loss=value_loss,
                           **({"chain_kl": kls.sum(0).mean().item()} if beta else {}))
        update = ppo_epoch(policy, opt, batch, adv, trainable, n_train, stds, cfg, epoch, update, generator, stats)
        if on_epoch is not None:
            on_epoch(epoch, stats.result())
    return opt


def train_metrics(state: dict) -> dict:
    """reward_queries_per_epoch: the chains scored per epoch (the learning curves' x axis, in queries)."""
    return {"reward_queries_per_epoch": state["reward_queries_per_epoch"]} if "reward_queries_per_epoch" in state else {}
