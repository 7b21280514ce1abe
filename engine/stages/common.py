"""Helpers the run-level stages share: config objects, seeding, samplers, policies, logging."""
from __future__ import annotations

import torch

from .. import store
from ..progress import Log  # noqa: F401  (the stages' logger)
from ..samplers.gddim_kind import GDDIMSampler
from ..spec.models import RunConfig


def setup_torch(threads: int = 2) -> None:
    """The job's CPU threads (shared by its torchrun ranks) and deterministic kernels: strictly on CPUs;
    on GPUs a CUDA kernel with no deterministic version warns (as engine/distributed.py's init sets it)
    rather than failing the run (bench/gpu_check.py's determinism section lists the ones a step meets)."""
    from ..distributed import world
    from ..eager import deterministic
    torch.set_num_threads(max(1, threads // world()))     # torchrun ranks share the job's CPUs
    deterministic(warn_only=torch.cuda.is_available())


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


def build_policy_for(cfg: RunConfig, upstream: dict, seed_generator=None):
    """The fine-tunable policy of a run at its pretrained start (the model family's `policy`)."""
    from ..models import family
    return family(cfg).policy(cfg, upstream, seed_generator)


def reward_for(cfg: RunConfig, upstream: dict, policy):
    """The run's reward as the policy's samples need it (SD: decode latents, prompts as text)."""
    from .. import distributed
    from ..rewards import build
    from ..registry import trait
    device = distributed.device() if trait(cfg, "model", "hub_needs") else None    # hub models run on the GPU
    reward = build(cfg.reward, upstream, device=device)
    return policy.wrap_reward(reward) if hasattr(policy, "wrap_reward") else reward
