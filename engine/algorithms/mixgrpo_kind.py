"""Algorithm kind `mixgrpo`: GRPO groups per prompt; SDE (trained) steps inside a sliding
window, ODE steps outside it. Its evaluation adds `reward_window`."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, Metric, register, trait
from .ppo_spec import PPOSettings, chain_rules


class MixGRPOAlgorithm(PPOSettings):
    """MixGRPO: GRPO groups per prompt; SDE (trained) steps inside a sliding window, ODE outside."""
    kind: Literal["mixgrpo"]
    prompts_per_epoch: int = Field(4, ge=1, le=100_000)
    group_size: int = Field(8, ge=2, le=4096)
    lr: float = Field(1e-4, gt=0, le=10)
    window_size: int = Field(4, ge=1, le=10_000)
    window_stride: int = Field(1, ge=1, le=10_000)
    iters_per_window: int = Field(5, ge=1, le=1_000_000)

    @property
    def batch_size(self) -> int:
        return self.prompts_per_epoch * self.group_size


def rules(cfg) -> list[tuple[str, str]]:
    alg, n = cfg.algorithm, cfg.resources.processes
    errors = []
    if cfg.model is not None and not trait(cfg, "model", "prompted", False):
        errors.append(("algorithm.kind", f"mixgrpo needs prompts (groups per prompt): model '{cfg.model.kind}' "
                                         f"has none"))
    if cfg.sampler is not None and alg.window_size >= cfg.sampler.steps:
        errors.append(("algorithm.window_size", f"window_size {alg.window_size} must be smaller "
                                                f"than sampler.steps {cfg.sampler.steps}"))
    errors += chain_rules(cfg)
    if n > 1 and alg.prompts_per_epoch * alg.group_size < n:
        errors.append(("algorithm.prompts_per_epoch", f"an epoch's {alg.prompts_per_epoch * alg.group_size} chains "
                                                      f"are fewer than the {n} processes"))
    return errors


# Where the survey arXiv 2409.11564v2 places it (README, "Algorithm catalogue"): MixGRPO (2025) postdates
# it; GRPO is in Table 2 under online methods, REINFORCE (§4.1.2), on the diffusion MDP of §4.5.1.
TAXONOMY = {"online": True,
            "feedback": "reward model (a scalar per sample, normalised in its prompt's group)",
            "policy": "on-policy (PPO-clip on the current policy's chains)",
            "modality": ("vision: digits UNet", "vision-text: SD 1.5"),
            "section": "GRPO in Table 2 (online, REINFORCE, §4.1.2) on §4.5.1's diffusion MDP; "
                       "MixGRPO itself postdates the survey"}

register(Kind("algorithm", "mixgrpo", MixGRPOAlgorithm, code="engine.algorithms.mixgrpo", rules=rules,
              traits={"needs": "chains", "taxonomy": TAXONOMY,
                      "metrics": (Metric("reward_window", doc="E[r] of the mixed ODE-SDE sampler, final window"),
                                  Metric("reward_window_se", doc="its Monte Carlo standard error"))}))
