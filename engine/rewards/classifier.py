"""r(x, c) = log p(c | x) under a trained digit classifier (its own stage)."""
from __future__ import annotations

import torch


class ClassifierReward:
    def __init__(self, net: torch.nn.Module):
        self.net = net

    @classmethod
    def from_store(cls, h: str) -> "ClassifierReward":
        from ..models.classifiers import load_stored
        return cls(load_stored(h))

    def __call__(self, x: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            logp = torch.log_softmax(self.net(x.float().clamp(-1, 1)), dim=1)
        return logp.gather(1, prompts.view(-1, 1)).squeeze(1).to(x.dtype)


def build(cfg, upstream: dict, device=None) -> ClassifierReward:
    return ClassifierReward.from_store(upstream["reward_model"])
