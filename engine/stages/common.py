"""Helpers the run-level stages share: config objects, seeding, samplers, policies, logging."""
from __future__ import annotations

import sys
import time

import torch

from .. import store
from ..spec.models import GDDIMSampler, RunConfig


def setup_torch(threads: int = 2) -> None:
    from ..distributed import world
    torch.set_num_threads(max(1, threads // world()))     # torchrun ranks share the job's CPUs
    torch.use_deterministic_algorithms(True)


def finetune_config(instance_config: dict, upstream: dict) -> RunConfig:
    """The full RunConfig of a finetune instance. Image families keep data and model in
    their upstream pretrain result (the pretrain hash covers them), so they are read back."""
    cfg = dict(instance_config)
    if "pretrain" in upstream:
        pre = store.verify_files("pretrain", upstream["pretrain"])
        cfg["model"] = pre["config"]["model"]
        cfg["data"] = store.provenance("data", pre["upstream"][0])["config"]["data"]
    return RunConfig.model_validate(cfg)


def sampler_stds(cfg: RunConfig, policy):
    """(training sampler stds, ODE sampler stds) on the policy's grid."""
    from ..samplers import step_stds
    ode = GDDIMSampler(kind="gddim", steps=cfg.sampler.steps, stochasticity=0.0)
    return step_stds(cfg.sampler, policy.a, policy.s), step_stds(ode, policy.a, policy.s)


def build_policy_for(cfg: RunConfig, upstream: dict, seed_generator=None, weights: str | None = None):
    """The policy of a run: the Gaussian family from its config, the UNet from the pretrain
    result (or fine-tuned `weights`, a result directory holding unet/), Stable Diffusion from
    its pinned pretrained pipeline (plus the fine-tuned LoRA adapter in `weights`)."""
    if cfg.model.kind == "gaussian_score":
        from ..models import build_policy
        return build_policy(cfg, seed_generator)
    if cfg.model.kind == "stable_diffusion":
        from ..models.stable_diffusion import load_policy as load_sd
        return load_sd(cfg, lora_weights=weights)
    from ..models.unet import load_pretrained
    path = weights or (store.result_dir("pretrain", upstream["pretrain"]) / "unet")
    keep_ref = getattr(cfg.algorithm, "kl_coef", 0) > 0 and weights is None
    return load_pretrained(path, cfg.model.pretrain, cfg.sampler.steps, keep_reference=keep_ref)


def reward_for(cfg: RunConfig, upstream: dict, policy):
    """The run's reward as the policy's samples need it (SD: decode latents, prompts as text)."""
    from .. import distributed
    from ..rewards import build
    reward = build(cfg.reward, upstream, device=distributed.device() if cfg.model.kind == "stable_diffusion" else None)
    return policy.wrap_reward(reward) if hasattr(policy, "wrap_reward") else reward


class Log:
    """Progress lines with elapsed time, flushed at once (they go to the rule's log file).
    quiet: say nothing (data-parallel ranks other than 0)."""

    def __init__(self, prefix: str = "", quiet: bool = False):
        self.t0 = time.time()
        self.prefix = prefix
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if self.quiet:
            return
        print(f"[{time.time() - self.t0:7.1f}s] {self.prefix}{msg}", file=sys.stderr, flush=True)
