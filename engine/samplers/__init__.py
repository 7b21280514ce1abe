"""Samplers: the per-step noise rule of each kind, and one shared gDDIM step.

`step_stds(sampler_cfg, a, s)` gives the std of every step's Gaussian, shape [T];
index k is the step from grid level k+1 to level k.
"""
from __future__ import annotations


def step_stds(sampler, a, s):
    if sampler.kind == "gddim":
        from .gddim import gddim_stds
        return gddim_stds(a, s, sampler.stochasticity)
    if sampler.kind == "ddim":
        from .ddim import ddim_stds
        return ddim_stds(a, s, sampler.eta)
    raise ValueError(f"unknown sampler kind {sampler.kind!r}")
