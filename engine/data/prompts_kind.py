"""Data kind `prompts`: the text prompts of a text-to-image family."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import Strict


class PromptsData(Strict):
    """Text prompts of a text-to-image family; chains sample them uniformly, evaluation cycles them."""
    kind: Literal["prompts"]
    prompts: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(min_length=1, max_length=100_000)


register(Kind("data", "prompts", PromptsData, traits={"provides": "prompts"}))
