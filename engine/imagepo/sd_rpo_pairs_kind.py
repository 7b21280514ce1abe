"""Data kind `rpo_pairs` and stage kind `sd_rpo_pairs`: RPO's critique -> instruction -> edit
pipeline at the paper scale (arXiv 2503.11720), on a Stable Diffusion run's own samples.

The stage draws `samples_per_prompt` images of every prompt from the pretrained pipeline (the
run's sampler at lambda = 0, noises fixed by the run's seed), asks a vision-language model for a
critique of each (`critic.prompt`), parses the critique into edit instructions
(engine/imagepo/instructions.py: free-text suggestions and imperatives), carries out the first
`editor.max_instructions` of them, joined with " and ", with diffusers'
StableDiffusionInstructPix2PixPipeline (one recorded seed per image), and keeps (edited, original)
as a pair when the critic's log-odds of "Yes" to `critic.accept` rises (or always, with
`require_gain: false`). The pairs are written as an `image_pairs_file` (pairs.jsonl and images/,
every image pinned by its sha256); the last `n_heldout` are held out. `prompts` are also what the
evaluate stage samples.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from ..registry import Kind, Metric, StageKind, register
from ..spec.base import Pretrained, Strict

# the default templates are in LLaVA-1.5's chat format (its image token <image>); other VLMs need their own
CRITIQUE = ("USER: <image>\nThis image was generated for the prompt \"{prompt}\". Critique it: what is wrong with "
            "it or missing from the prompt? Then give one short edit instruction that would fix it, starting "
            "with \"Suggestion:\". ASSISTANT:")
ACCEPT = "USER: <image>\nIs this a good image of \"{prompt}\"? Answer Yes or No. ASSISTANT:"
VLM_FILES = ("*.json", "tokenizer.model", "model*.safetensors")


class CriticSettings(Strict):
    """A vision-language model of transformers (AutoModelForImageTextToText and AutoProcessor: LLaVA,
    Idefics, Qwen2-VL, ...); templates in the model's own chat format, with its image token."""
    pretrained: Pretrained
    prompt: str = Field(CRITIQUE, min_length=1, max_length=4000)
    accept: str = Field(ACCEPT, min_length=1, max_length=4000)      # a yes/no question: the edit's score
    max_new_tokens: int = Field(128, ge=1, le=4096)                  # greedy decoding

    @field_validator("prompt", "accept")
    @classmethod
    def _has_prompt(cls, v: str) -> str:
        if "{prompt}" not in v:
            raise ValueError("the template must contain {prompt} (where the image's prompt goes)")
        return v


class EditorSettings(Strict):
    """diffusers' StableDiffusionInstructPix2PixPipeline (its own scheduler, text and image guidance)."""
    pretrained: Pretrained
    steps: int = Field(20, ge=1, le=1000)
    guidance_scale: float = Field(7.5, ge=1.0, le=100.0)
    image_guidance_scale: float = Field(1.5, ge=1.0, le=100.0)
    max_instructions: int = Field(2, ge=1, le=16)


class RPOPairs(Strict):
    """Preference pairs made by RPO's pipeline from the pretrained model's samples of `prompts`."""
    kind: Literal["rpo_pairs"]
    prompts: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(min_length=1, max_length=100_000)
    samples_per_prompt: int = Field(4, ge=1, le=1024)
    n_heldout: int = Field(100, ge=1, le=10**7)
    require_gain: bool = True           # keep an edit only if the critic's log-odds of "Yes" rises
    batch_size: int = Field(8, ge=1, le=4096)       # memory: images generated, critiqued and edited at once
    critic: CriticSettings
    editor: EditorSettings


def rules(cfg) -> list[tuple[str, str]]:
    d = cfg.data
    if d.n_heldout >= len(d.prompts) * d.samples_per_prompt:
        return [("data.n_heldout", f"{d.n_heldout} held-out pairs need more than {len(d.prompts)} prompts x "
                                   f"{d.samples_per_prompt} samples")]
    if cfg.model.kind != "stable_diffusion":
        return [("data.kind", "rpo_pairs edits a Stable Diffusion model's samples (model kind stable_diffusion)")]
    return []


def hub_needs(data) -> list:
    from ..hub import Need
    from ..models.stable_diffusion_kind import SD_FILES, SD_REQUIRED
    return [Need(data.critic.pretrained.id, data.critic.pretrained.revision, VLM_FILES, ("config.json",)),
            Need(data.editor.pretrained.id, data.editor.pretrained.revision, SD_FILES, SD_REQUIRED)]


register(Kind("data", "rpo_pairs", RPOPairs, code="engine.imagepo.sd_rpo_pairs", rules=rules,
              traits={"provides": "image_pairs", "pairs_stage": "sd_rpo_pairs", "hub_needs": hub_needs}))

register(StageKind("sd_rpo_pairs", version=1, code="engine.imagepo.sd_rpo_pairs",
                   metrics=lambda cfg, roles: [
                       Metric("images", doc="images generated"),
                       Metric("critiqued_fraction", doc="images whose critique gave at least one instruction"),
                       Metric("instructions_per_image", doc="mean number of instructions parsed per image"),
                       Metric("edited_fraction", doc="images whose edit was kept as a pair"),
                       Metric("pairs", doc="pairs written (training + held-out)"),
                       Metric("critic_gain", determinism="tolerance", tol=1e-3,
                              doc="mean change of the critic's log-odds of Yes over all edits made"),
                       Metric("pairs_seconds", determinism="none")],
                   grids=lambda roles: ("edits",)))
