"""Helpers the run-level stages share: config objects, seeding, samplers, logging."""
from __future__ import annotations

import sys
import time

import torch

from ..spec.models import GDDIMSampler, RunConfig


def run_config(cfg: dict) -> RunConfig:
    """A finetune instance's config (a slice of RunConfig) as a validated RunConfig."""
    return RunConfig.model_validate(cfg)


def setup_torch(threads: int = 2) -> None:
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def sampler_stds(cfg: RunConfig, policy):
    """(training sampler stds, ODE sampler stds) on the policy's grid."""
    from ..samplers import step_stds
    ode = GDDIMSampler(kind="gddim", steps=cfg.sampler.steps, stochasticity=0.0)
    return step_stds(cfg.sampler, policy.a, policy.s), step_stds(ode, policy.a, policy.s)


class Log:
    """Progress lines with elapsed time, flushed at once (they go to the rule's log file)."""

    def __init__(self, prefix: str = ""):
        self.t0 = time.time()
        self.prefix = prefix

    def __call__(self, msg: str) -> None:
        print(f"[{time.time() - self.t0:7.1f}s] {self.prefix}{msg}", file=sys.stderr, flush=True)
