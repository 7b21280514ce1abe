"""Samplers: one file per kind (`<kind>.py`, with its declaration `<kind>_kind.py`). Each
implementation module defines `step_stds(sampler_cfg, a, s)`: the std of every step's
Gaussian, shape [T]; index k is the step from grid level k+1 to level k."""
from __future__ import annotations


def step_stds(sampler, a, s):
    from .. import registry
    return registry.implementation(registry.kind("sampler", sampler.kind)).step_stds(sampler, a, s)
