"""Advantage normalization shared by the policy-gradient algorithms."""
from __future__ import annotations

from collections import defaultdict, deque

import torch


def batch_normalize(rewards: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return batch_scaled(rewards, eps)[0]


def batch_scaled(rewards: torch.Tensor, eps: float = 1e-8):
    """((r - mean) / (std + eps), the per-chain factor 1 / (std + eps) it applied)."""
    sd = rewards.std() + eps
    return (rewards - rewards.mean()) / sd, (1.0 / sd).expand_as(rewards)


class PerPromptStats:
    """DDPO's per-prompt running statistics: a prompt with fewer than `min_count`
    stored rewards is normalized with the batch's statistics instead."""

    def __init__(self, buffer_size: int = 64, min_count: int = 16):
        self.buffer_size = buffer_size
        self.min_count = min_count
        self.stats: dict = defaultdict(lambda: deque(maxlen=buffer_size))

    def state(self) -> dict:
        """The stored rewards per prompt, JSON-ready (checkpoints keep it, so a resumed run is bitwise equal)."""
        return {str(p): list(buf) for p, buf in self.stats.items()}

    def load_state(self, state: dict) -> None:
        self.stats.clear()
        for p, values in state.items():
            self.stats[int(p)].extend(values)

    def normalize(self, prompts: list, rewards: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
        return self.scaled(prompts, rewards, eps)[0]

    def scaled(self, prompts: list, rewards: torch.Tensor, eps: float = 1e-8):
        """(normalized rewards, the per-chain factor 1 / (std + eps) each was divided by)."""
        out = torch.empty_like(rewards)
        scale = torch.empty_like(rewards)
        mean_all, std_all = rewards.mean(), rewards.std() + eps
        for p in set(prompts):
            idx = torch.tensor([i for i, q in enumerate(prompts) if q == p])
            buf = self.stats[p]
            buf.extend(rewards[idx].tolist())
            if len(buf) < self.min_count:
                out[idx] = (rewards[idx] - mean_all) / std_all
                scale[idx] = 1.0 / std_all
            else:
                vals = torch.tensor(list(buf), dtype=rewards.dtype)
                sd = vals.std() + eps
                out[idx] = (rewards[idx] - vals.mean()) / sd
                scale[idx] = 1.0 / sd
        return out, scale


def group_normalize(rewards: torch.Tensor, groups: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """GRPO: (r - group mean) / group std within each group id."""
    return group_scaled(rewards, groups, eps)[0]


def group_scaled(rewards: torch.Tensor, groups: torch.Tensor, eps: float = 1e-8):
    """(group_normalize(rewards, groups), the per-chain factor 1 / (group std + eps))."""
    out = torch.empty_like(rewards)
    scale = torch.empty_like(rewards)
    for g in groups.unique():
        m = groups == g
        sd = rewards[m].std() + eps
        out[m] = (rewards[m] - rewards[m].mean()) / sd
        scale[m] = 1.0 / sd
    return out, scale
