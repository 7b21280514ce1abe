"""Algorithm kind `ddpo`: PPO-clip on per-step log-probability ratios of sampled chains."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from ..registry import Kind, register
from .ppo_spec import PPOSettings, chain_rules


class DDPOAlgorithm(PPOSettings):
    """DDPO: PPO-clip on per-step log-probability ratios of sampled trajectories."""
    kind: Literal["ddpo"]
    batch_size: int = Field(256, ge=2, le=1_000_000)
    minibatches: int = Field(1, ge=1, le=1024)
    lr: float = Field(1e-2, gt=0, le=10)
    timestep_fraction: float = Field(1.0, gt=0, le=1)
    stats_buffer: int = Field(64, ge=1)          # per-prompt running statistics (prompted families)
    stats_min_count: int = Field(16, ge=1)

    @field_validator("minibatches")
    @classmethod
    def _divisible(cls, v: int, info: ValidationInfo) -> int:
        batch = info.data.get("batch_size")
        if batch is not None and batch % v:
            raise ValueError(f"batch_size {batch} is not divisible by minibatches {v}: every minibatch "
                             f"must have the same size")
        return v


def rules(cfg) -> list[tuple[str, str]]:
    alg, n = cfg.algorithm, cfg.resources.processes
    errors = chain_rules(cfg)
    if n > 1 and alg.batch_size // alg.minibatches < n:
        errors.append(("algorithm.batch_size", f"each of the {alg.minibatches} minibatches has "
                                               f"{alg.batch_size // alg.minibatches} chains, fewer than the {n} processes"))
    return errors


# Where the survey arXiv 2409.11564v2 places it (README, "Algorithm catalogue"): §4 Online Alignment
# ("PPO, which is online and on-policy"), Table 2's online multi-modal diffusion methods.
TAXONOMY = {"online": True,
            "feedback": "reward model (a scalar per sample)",
            "policy": "on-policy (PPO-clip on the current policy's chains)",
            "modality": ("vision: digits UNet", "vision-text: SD 1.5", "other: Gaussian vectors"),
            "section": "§4.5.1 DDPO and DPOK (kl_coef > 0: DPOK's KL-regularised objective, Eq. 26)"}

register(Kind("algorithm", "ddpo", DDPOAlgorithm, code="engine.algorithms.ddpo", rules=rules,
              traits={"needs": "chains", "taxonomy": TAXONOMY}))
