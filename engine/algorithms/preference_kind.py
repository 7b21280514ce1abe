"""Algorithm kind `preference`: offline preference optimisation from pairs (DPO and its variants;
RainbowPO's seven components, arXiv 2410.04203). The loss is engine/algorithms/preference.py.

`variant` names a baseline loss (dpo, ipo, simpo, orpo, kto), optionally followed by RainbowPO
components joined with "+" (each off by default: "dpo+length_norm", "dpo+ref_mix+sft"), or
`rainbow`: DPO plus the components chosen greedily on the validation seeds (stage lm_select).
A component's setting is the field of the same name (link: which link; margin: gamma; ref_mix:
alpha; sft: sft_weight; rejection: the model's pairs.rejection_beta; length_norm and contextual
take none)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..registry import Kind, register
from ..spec.base import Strict

BASES = ("dpo", "ipo", "simpo", "orpo", "kto")
COMPONENTS = ("length_norm", "link", "margin", "ref_mix", "contextual", "rejection", "sft")


def parse_variant(variant: str) -> tuple[str, tuple[str, ...]]:
    """'dpo+length_norm+sft' -> ('dpo', ('length_norm', 'sft')); 'rainbow' -> ('rainbow', ())."""
    base, *components = variant.split("+")
    return base, tuple(components)


class PreferenceAlgorithm(Strict):
    kind: Literal["preference"]
    variant: str
    beta: float = Field(0.1, gt=0, le=1e4)             # on summed log-ratios
    beta_normalised: float = Field(2.0, gt=0, le=1e4)  # on per-token means (length_norm, simpo)
    link: Literal["hinge", "square", "cauchy"] = "cauchy"
    margin: float = Field(0.5, ge=0, le=100)           # home advantage gamma
    ref_mix: float = Field(0.75, ge=0, le=1)           # alpha: weight of the reference log-ratio
    sft_weight: float = Field(0.1, ge=0, le=100)
    steps: int = Field(150, ge=1, le=10**7)
    batch_size: int = Field(32, ge=1, le=65_536)
    lr: float = Field(5e-4, gt=0, le=1)
    validation_seeds: list[int] = Field([100, 101], min_length=1, max_length=64)   # rainbow's selection
    min_gain: float = Field(0.0, ge=0, le=1)           # selection: a component must raise validation LC by more

    @field_validator("variant")
    @classmethod
    def _variant(cls, v: str) -> str:
        base, components = parse_variant(v)
        if base == "rainbow":
            if components:
                raise ValueError("'rainbow' takes no components: they are chosen on the validation seeds")
            return v
        if base not in BASES:
            raise ValueError(f"unknown base loss '{base}' (one of: {', '.join(BASES)}, or rainbow)")
        unknown = [c for c in components if c not in COMPONENTS]
        if unknown:
            raise ValueError(f"unknown component(s) {', '.join(unknown)} (one of: {', '.join(COMPONENTS)})")
        if len(set(components)) != len(components):
            raise ValueError("a component is named twice")
        if components and base != "dpo":
            raise ValueError("components are added to dpo (RainbowPO's ablation); the other bases stand alone")
        return v


# Where the survey arXiv 2409.11564v2 places it (README, "Algorithm catalogue"): §5 Offline Alignment, each
# base loss in its own subsection. Offline data are off-policy: the pairs are drawn once from the reference
# (SFT or pretrained) model, or read from the user's file, never from the policy being trained. Images are
# tuned with dpo and its components only (Diffusion-DPO: engine/imagepo/graph.py, the stable_diffusion
# family's rules); the other bases run on text.
TEXT = ("text: tiny LM", "text: causal LM (paper scale)")
TAXONOMY = {"online": False,
            "feedback": "pairwise (chosen, rejected)",
            "policy": "off-policy (fixed pairs: the reference model's samples, their edits, or a file)",
            "modality": TEXT + ("vision: digits UNet", "vision-text: SD 1.5 (paper scale)"),
            "section": "§5.1 Offline DPO",
            "variants": {       # per base loss: what differs from the above
                "dpo": {"section": "§5.1 Offline DPO; on images §5.2.1 Diffusion-DPO"},
                "ipo": {"modality": TEXT, "section": "§5.1.1 IPO"},
                "simpo": {"modality": TEXT, "section": "§5.1.10 SimPO"},
                "orpo": {"modality": TEXT, "section": "§5.1.9 ORPO"},
                "kto": {"modality": TEXT, "section": "§5.1.4 KTO",
                        "feedback": "binary, unpaired (desirable, undesirable: each pair's two halves here)"},
                "rainbow": {"modality": TEXT, "section": "§5.1.11 RainbowPO"}}}

register(Kind("algorithm", "preference", PreferenceAlgorithm, code="engine.algorithms.preference",
              traits={"needs": "pairs", "taxonomy": TAXONOMY}))
