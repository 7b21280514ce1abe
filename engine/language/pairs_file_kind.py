"""Data kind `pairs_file`: preference pairs the user provides as a local JSON Lines file (the paper
scale of RainbowPO: UltraFeedback-style pairs), one {"prompt", "chosen", "rejected"} object per line.
Nothing is downloaded; the file's sha256, when the spec states one, is checked before use."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..registry import Kind, register
from ..spec.base import Strict


class PairsFile(Strict):
    """The last `n_heldout` pairs (file order) are held out: their implicit accuracy is reported."""
    kind: Literal["pairs_file"]
    path: str = Field(min_length=1, max_length=500)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    n_heldout: int = Field(1000, ge=1, le=10**7)

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        parts = v.replace("\\", "/").split("/")
        if v.startswith(("/", "~")) or ".." in parts or ":" in v:
            raise ValueError("path must be relative to the project, without '..'")
        return v


register(Kind("data", "pairs_file", PairsFile, code="engine.language.pairs_file",
              traits={"provides": "preference_pairs"}))
