"""Reward kind `aesthetic`: a LAION-style MLP head on CLIP image embeddings (hub models)."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ..registry import Kind, register
from ..spec.base import Pretrained, Strict


class AestheticReward(Strict):
    """LAION-style aesthetic score: an MLP (linear layers, safetensors) on L2-normalized CLIP image embeddings."""
    kind: Literal["aesthetic"]
    clip: Pretrained
    head: str = Field(min_length=1, max_length=500)       # path of the MLP's .safetensors file
    batch: int = Field(32, ge=1, le=65_536)

    @field_validator("head")
    @classmethod
    def _safetensors(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.~/\-]+\.safetensors", v):
            raise ValueError(f"'{v}' must be the path of a .safetensors file (weights never load from pickles; "
                             f"README: Paper scale converts LAION's .pth)")
        return v


def hub_needs(reward) -> list:
    from ..hub import CLIP_FILES, CLIP_REQUIRED, Need
    return [Need(reward.clip.id, reward.clip.revision, CLIP_FILES, CLIP_REQUIRED), Need(reward.head, file=True)]


register(Kind("reward", "aesthetic", AestheticReward, code="engine.rewards.aesthetic",
              traits={"accepts": ("text_images",), "hub_needs": hub_needs}))
