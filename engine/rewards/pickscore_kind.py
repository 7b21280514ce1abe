"""Reward kind `pickscore`: CLIP image-text similarity of a PickScore checkpoint (hub models)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import Pretrained, Strict


class PickScoreReward(Strict):
    """PickScore-style reward: logit_scale * cos(CLIP image embedding, CLIP text embedding of the prompt)."""
    kind: Literal["pickscore"]
    model: Pretrained
    processor: Pretrained | None = None                    # tokenizer + image processor (default: the model's)
    batch: int = Field(32, ge=1, le=65_536)


def hub_needs(reward) -> list:
    from ..hub import CLIP_FILES, CLIP_REQUIRED, PROCESSOR_FILES, PROCESSOR_REQUIRED, Need
    out = [Need(reward.model.id, reward.model.revision, CLIP_FILES, CLIP_REQUIRED)]
    if reward.processor is not None:
        out.append(Need(reward.processor.id, reward.processor.revision, PROCESSOR_FILES, PROCESSOR_REQUIRED))
    return out


register(Kind("reward", "pickscore", PickScoreReward, code="engine.rewards.pickscore",
              traits={"accepts": ("text_images",), "hub_needs": hub_needs}))
