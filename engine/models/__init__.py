"""Model families: one file each. `build_policy` picks the family by `model.kind`."""
from __future__ import annotations


def build_policy(cfg, generator=None):
    """The fine-tunable policy of a run config (data, model, sampler steps)."""
    if cfg.model.kind == "gaussian_score":
        from .gaussian import AffinePolicy, GaussianData
        return AffinePolicy(GaussianData(cfg.data), cfg.model.process, cfg.sampler.steps,
                            cfg.model.init_scale, generator)
    raise ValueError(f"unknown model kind {cfg.model.kind!r}")
