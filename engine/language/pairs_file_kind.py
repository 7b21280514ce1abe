"""Data kind `pairs_file`: preference pairs the user provides as a local JSON Lines file (the paper
scale of RainbowPO: UltraFeedback-style pairs), one {"prompt", "chosen", "rejected"} object per line.
Nothing is downloaded; the file's sha256, when the spec states one, is checked before use."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import ProjectPath, Strict


class PairsFile(Strict):
    """The last `n_heldout` pairs (file order) are held out: their implicit accuracy is reported."""
    kind: Literal["pairs_file"]
    path: ProjectPath
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    n_heldout: int = Field(1000, ge=1, le=10**7)



register(Kind("data", "pairs_file", PairsFile, code="engine.language.pairs_file",
              traits={"provides": "preference_pairs"}))
