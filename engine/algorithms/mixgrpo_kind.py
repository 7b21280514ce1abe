"""Algorithm kind `mixgrpo`: GRPO groups per prompt; SDE (trained) steps inside a sliding
window, ODE steps outside it, on any sampler. A window as long as the chain is full-SDE GRPO
(DanceGRPO-style); `ode_solver` and `ode_compress` make MixGRPO-Flash. Its evaluation adds `reward_window`;
its training adds the seconds per epoch (median) and the training wall time, never compared."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from ..registry import Kind, Metric, register, trait
from ..spec.base import neutral
from .ppo_spec import PPOSettings, chain_rules


FLASH_COMPRESS = 0.4      # MixGRPO-Flash's dpm_post_compress_ratio (the authors' run script)


class MixGRPOAlgorithm(PPOSettings):
    """MixGRPO: GRPO groups per prompt; SDE (trained) steps inside a sliding window, ODE outside."""
    kind: Literal["mixgrpo"]
    prompts_per_epoch: int = Field(4, ge=1, le=100_000)
    group_size: int = Field(8, ge=2, le=4096)
    lr: float = Field(1e-4, gt=0, le=10)
    window_size: int = Field(4, ge=1, le=10_000)
    window_stride: int = Field(1, ge=1, le=10_000)
    iters_per_window: int = Field(5, ge=1, le=1_000_000)
    # where the window is at each epoch: progressive (slides toward the data every iters_per_window
    # epochs, wrapping around), random (a start drawn per epoch from the run's seed), fixed (at window_start)
    schedule: Literal["progressive", "random", "fixed"] = neutral("progressive")
    window_start: int = neutral(0, ge=0, le=10_000)        # fixed: steps from the noisiest one
    # the paper's rows: full_sde (every step in the window: DanceGRPO-style full-SDE GRPO), mixgrpo,
    # flash (MixGRPO-Flash: ode_solver dpmsolver2m and ode_compress 0.4 unless given, as the authors' scripts)
    variant: Literal["mixgrpo", "full_sde", "flash"] = neutral("mixgrpo")
    # the deterministic steps after the window: euler (MixGRPO), dpmsolver2m (DPM-Solver++(2M), Flash's),
    # heun (one-step second order); `ode_compress`: the fraction of them kept (Flash's compression)
    ode_solver: Optional[Literal["euler", "heun", "dpmsolver2m"]] = neutral(None)
    ode_compress: Optional[float] = neutral(None, gt=0, le=1)

    @property
    def solver(self) -> str:
        return self.ode_solver or ("dpmsolver2m" if self.variant == "flash" else "euler")

    @property
    def compress(self) -> float:
        return self.ode_compress or (FLASH_COMPRESS if self.variant == "flash" else 1.0)

    def window_length(self, steps: int) -> int:
        return steps if self.variant == "full_sde" else self.window_size

    @property
    def batch_size(self) -> int:
        return self.prompts_per_epoch * self.group_size


def rules(cfg) -> list[tuple[str, str]]:
    alg, n = cfg.algorithm, cfg.resources.processes
    errors = []
    if cfg.model is not None and not trait(cfg, "model", "prompted", False):
        errors.append(("algorithm.kind", f"mixgrpo needs prompts (groups per prompt): model '{cfg.model.kind}' "
                                         f"has none"))
    if cfg.sampler is not None and alg.window_size > cfg.sampler.steps:
        errors.append(("algorithm.window_size", f"window_size {alg.window_size} is more than "
                                                f"sampler.steps {cfg.sampler.steps} (equal: full-SDE GRPO)"))
    size = alg.window_length(cfg.sampler.steps) if cfg.sampler is not None else alg.window_size
    if cfg.sampler is not None and alg.schedule == "fixed" and alg.window_start + size > cfg.sampler.steps:
        errors.append(("algorithm.window_start", f"a window of {size} from step {alg.window_start} "
                                                 f"runs past the {cfg.sampler.steps} steps"))
    flash = [f for f in ("variant", "ode_solver", "ode_compress") if getattr(alg, f) not in (None, "mixgrpo", "full_sde")]
    if (alg.solver != "euler" or alg.compress != 1.0) and cfg.model is not None and \
            trait(cfg, "model", "parameterisation", "eps") != "velocity":
        errors.append((f"algorithm.{flash[0]}", f"MixGRPO-Flash's solver needs a family with its own transition "
                                                f"(a rectified flow); model '{cfg.model.kind}' steps by gDDIM"))
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
            "modality": ("vision: digits UNet", "vision: digits rectified flow", "vision-text: SD 1.5",
                         "vision-text: FLUX.1-dev"),
            "section": "GRPO in Table 2 (online, REINFORCE, §4.1.2) on §4.5.1's diffusion MDP; "
                       "MixGRPO itself postdates the survey"}

register(Kind("algorithm", "mixgrpo", MixGRPOAlgorithm, code="engine.algorithms.mixgrpo", rules=rules,
              traits={"needs": "chains", "taxonomy": TAXONOMY,
                      "metrics": (Metric("reward_window", doc="E[r] of the mixed ODE-SDE sampler, final window"),
                                  Metric("reward_window_se", doc="its Monte Carlo standard error")),
                      "train_metrics": (
                          Metric("seconds_per_epoch", determinism="none",
                                 doc="median wall seconds of an epoch (sampling and updates), first epoch dropped"),
                          Metric("train_seconds", determinism="none", doc="wall seconds of all epochs"))}))
