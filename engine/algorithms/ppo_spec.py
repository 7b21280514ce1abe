"""The PPO-clip settings DDPO and MixGRPO share (engine/algorithms/policy_gradient.py), and
the rules every on-policy chain algorithm shares."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..spec.base import Strict


class PPOSettings(Strict):
    """The PPO-clip settings DDPO and MixGRPO share (engine/algorithms/policy_gradient.py)."""
    epochs: int = Field(100, ge=1, le=1_000_000)
    inner_epochs: int = Field(1, ge=1, le=100)
    clip_range: float = Field(0.2, gt=0, le=10)
    adv_clip_max: float = Field(5.0, gt=0)
    kl_coef: float = Field(0.0, ge=0, le=1e6)  # beta: maximise E[r] - beta KL(chains || pretrained chains) (kl.py)
    max_grad_norm: float = Field(1.0, gt=0)
    advantage_sign: Literal[1, -1] = 1           # -1 minimizes the reward: a sanity check
    ratio_reduction: Literal["sum", "mean"] = "sum"   # "mean": DDPO's per-dimension log-ratio


def chain_rules(cfg) -> list[tuple[str, str]]:
    """On-policy chains need a stochastic sampler of at least 2 steps."""
    from ..registry import kind
    errors = []
    if cfg.sampler is None:
        return [("sampler", f"missing required field 'sampler' ({cfg.algorithm.kind} trains on sampled chains)")]
    noise_field = kind("sampler", cfg.sampler.kind).traits.get("noise_field")
    if noise_field and getattr(cfg.sampler, noise_field) == 0:
        errors.append((f"sampler.{noise_field}",
                       "DDPO needs a stochastic training sampler (> 0): the ODE sampler has no "
                       "per-step log-probability to optimize"))
    if cfg.sampler.steps < 2:
        errors.append(("sampler.steps", "DDPO needs at least 2 sampler steps (the last step is deterministic)"))
    return errors
