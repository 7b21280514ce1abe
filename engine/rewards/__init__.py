"""Rewards, one file per family, built by `kind`. A reward is a callable
(x0 [n, ...], prompts [n] or None) -> reward [n]. Text-to-image rewards (aesthetic,
pickscore) take images [n, 3, H, W] in [-1, 1] and prompts as a list of strings."""
from __future__ import annotations


def build(reward_cfg, upstream: dict | None = None, device=None):
    """`upstream` maps roles to stage hashes (the classifier reward reads `reward_model`);
    `device` is where hub-loaded reward models run."""
    kind = reward_cfg.kind
    if kind == "quadratic":
        from .quadratic import QuadraticReward
        return QuadraticReward(reward_cfg.center, reward_cfg.scale)
    if kind == "classifier":
        from .classifier import ClassifierReward
        return ClassifierReward.from_store((upstream or {})["reward_model"])
    if kind in ("jpeg_compressibility", "jpeg_incompressibility"):
        from .jpeg import JpegSize
        return JpegSize(reward_cfg.quality, sign=-1.0 if kind == "jpeg_compressibility" else 1.0)
    if kind == "aesthetic":
        from .aesthetic import AestheticReward
        return AestheticReward.load(reward_cfg, device)
    if kind == "pickscore":
        from .pickscore import PickScoreReward
        return PickScoreReward.load(reward_cfg, device)
    raise ValueError(f"unknown reward kind {kind!r}")
