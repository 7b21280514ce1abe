"""Rewards, one file per family; `build(cfg)` returns a callable x0 -> reward [n]."""
from __future__ import annotations


def build(reward_cfg):
    if reward_cfg.kind == "quadratic":
        from .quadratic import QuadraticReward
        return QuadraticReward(reward_cfg.center, reward_cfg.scale)
    raise ValueError(f"unknown reward kind {reward_cfg.kind!r}")
