"""A reward that overflows at run time, registered through ENGINE_PLUGINS=tests.overflow_reward
(tests/test_faults.py): spec values can no longer make the built-in rewards overflow (their fields
have ranges), but a fault at run time must still stop the job and name spec, run, stage and epoch."""
from __future__ import annotations

from typing import Literal

import torch

from engine.registry import Kind, register
from engine.spec.base import Strict


class OverflowingReward(Strict):
    kind: Literal["overflowing"]


class _Inf:
    def __call__(self, x, prompts=None):
        return torch.full((x.shape[0],), float("inf"), dtype=x.dtype)

    def expectation(self, mean, var):
        return torch.tensor(float("inf"), dtype=mean.dtype)


def build(cfg, upstream: dict, device=None) -> _Inf:
    return _Inf()


register(Kind("reward", "overflowing", OverflowingReward, code=__name__, traits={"accepts": ("vectors",)}))
