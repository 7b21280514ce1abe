"""Rewards, one file per family (`<kind>.py`, with its declaration `<kind>_kind.py`). A reward
is a callable (x0 [n, ...], prompts [n] or None) -> reward [n]. Text-to-image rewards
(aesthetic, pickscore) take images [n, 3, H, W] in [-1, 1] and prompts as a list of strings.
Each implementation module defines `build(reward_cfg, upstream, device)`."""
from __future__ import annotations


def build(reward_cfg, upstream: dict | None = None, device=None):
    """`upstream` maps roles to stage hashes (the classifier reward reads `reward_model`);
    `device` is where hub-loaded reward models run."""
    from .. import registry
    impl = registry.implementation(registry.kind("reward", reward_cfg.kind))
    return impl.build(reward_cfg, upstream or {}, device)
