"""Data kind `arithmetic`: the synthetic instruction task of the RainbowPO miniature (engine/language/task.py):
"a+b=" prompts with a verifiable answer that can be padded or explained, so length can be gamed."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..registry import Kind, register
from ..spec.base import Strict


class Arithmetic(Strict):
    """Problems a + b with a, b uniform in [lo, hi], drawn once from `seed` and split into disjoint
    prompt sets: SFT, preference pairs, validation (the RainbowPO combination is chosen there) and
    test (every reported number). The pretraining corpus has its own `pretrain_texts` problems with
    random answers, half of them wrong, drawn over every problem (the test prompts too): it teaches the
    format, and some arithmetic."""
    kind: Literal["arithmetic"]
    lo: int = Field(0, ge=0, le=10**6)
    hi: int = Field(49, ge=1, le=10**6)
    pretrain_texts: int = Field(4000, ge=1, le=10**7)
    sft_prompts: int = Field(1200, ge=1, le=10**7)
    pair_prompts: int = Field(300, ge=1, le=10**7)
    validation_prompts: int = Field(150, ge=2, le=10**7)
    test_prompts: int = Field(300, ge=2, le=10**7)
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _enough_problems(self):
        if self.hi <= self.lo:
            raise ValueError(f"hi ({self.hi}) must be above lo ({self.lo})")
        distinct = (self.hi - self.lo + 1) ** 2
        need = self.sft_prompts + self.pair_prompts + self.validation_prompts + self.test_prompts
        if need > distinct:
            raise ValueError(f"the four prompt sets need {need} distinct problems; [lo, hi] has only {distinct}")
        return self


register(Kind("data", "arithmetic", Arithmetic, code="engine.language.task", traits={"provides": "text_tasks"}))
