"""Model family `stable_diffusion`: a pinned hub pipeline with LoRA adapters; no upstream
stages (the rewards load their own hub models); one (multi-GPU) job per run. Tuned by a
policy-gradient algorithm (finetune) or, for an algorithm that learns from pairs, offline by
Diffusion-DPO (sd_dpo) on image pairs: a file the user provides (data `image_pairs_file`) or the
pairs of RPO's critique -> edit stage (data `rpo_pairs`: sd_rpo_pairs first)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..registry import Kind, Node, kind, register
from ..spec.base import Pretrained, Strict, neutral
from .declare import (config_slice, diffusion_rules, evaluation_config, image_variant_errors, learns_from_pairs,
                      required, run_kinds)


class LoRA(Strict):
    """Low-rank adapters (peft) on the UNet's attention projections; only they are trained."""
    rank: int = Field(4, ge=1, le=1024)
    alpha: float = Field(4.0, gt=0)
    target_modules: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.]+$")]] = Field(
        ["to_q", "to_k", "to_v", "to_out.0"], min_length=1, max_length=64)


class StableDiffusionModel(Strict):
    """A diffusers Stable Diffusion pipeline (text-conditioned latent UNet, VAE, CLIP text encoder)
    with LoRA adapters on the UNet and classifier-free guidance."""
    kind: Literal["stable_diffusion"]
    pretrained: Pretrained
    resolution: int = Field(512, ge=8, le=4096)
    guidance_scale: float = Field(5.0, ge=1.0, le=100.0)       # 1 = no classifier-free guidance
    negative_prompt: str = Field("", max_length=1000)
    lora: LoRA = LoRA()
    precision: Literal["fp32", "bf16"] = "fp32"                 # frozen weights + autocast on GPUs; CPUs run fp32
    gradient_checkpointing: bool = False
    steps_per_backward: int = Field(1, ge=1, le=10_000)        # memory: trained steps per backward pass
    sample_batch: int = Field(32, ge=1, le=65_536)             # memory: chains per evaluation batch
    decode_batch: int = Field(8, ge=1, le=65_536)              # memory: latents per VAE decode
    pairs_per_backward: int = neutral(4, ge=1, le=65_536)      # memory: Diffusion-DPO pairs per backward pass


TRAINING_ONLY = ("lora", "gradient_checkpointing", "steps_per_backward", "pairs_per_backward")


def rules(cfg) -> list[tuple[str, str]]:
    if not learns_from_pairs(cfg):
        return diffusion_rules(cfg)
    errors = required(cfg, ("data", "sampler", "reward"))      # sampler and reward: the evaluate stage's
    if errors:
        return errors
    if kind("data", cfg.data.kind).traits.get("provides") != "image_pairs":
        return [("data.kind", f"Diffusion-DPO learns from image pairs (data kind image_pairs_file or rpo_pairs), "
                              f"not '{cfg.data.kind}'")]
    if "text_images" not in kind("reward", cfg.reward.kind).traits.get("accepts", ()):
        return [("reward.kind", f"reward '{cfg.reward.kind}' does not score text-to-image samples")]
    errors = image_variant_errors(cfg)
    if errors:
        return errors
    from ..algorithms.preference_kind import parse_variant
    if "rejection" in parse_variant(cfg.algorithm.variant)[1]:
        return [("algorithm.variant", "'rejection' resamples pairs from a reward model's scores; image pairs from a "
                                      "file or from RPO's edits have none: leave it out")]
    return []


def pair_graph(cfg) -> list[Node]:
    """[pairs stage, when the data kind names one] -> sd_dpo -> evaluate (reading the adapter from sd_dpo)."""
    uses = run_kinds(cfg)
    nodes, upstream = [], ()
    stage = kind("data", cfg.data.kind).traits.get("pairs_stage")
    if stage:                       # the pretrained pipeline makes the pairs: the training-only fields stay out
        own = config_slice(cfg, ("data", "model", "sampler", "seed"))
        own["model"] = {k: v for k, v in own["model"].items() if k not in TRAINING_ONLY}
        nodes.append(Node("pairs", stage, own, (), "instance"))
        upstream = ("pairs",)
    own = config_slice(cfg, ("data", "model", "sampler", "algorithm", "reward", "seed"))
    return nodes + [Node("finetune", "sd_dpo", own, upstream, "instance", uses),
                    Node("evaluate", "evaluate", {**evaluation_config(cfg), "trained_by": "sd_dpo"}, ("finetune",),
                         "instance", uses)]


def graph(cfg) -> list[Node]:
    if learns_from_pairs(cfg):
        return pair_graph(cfg)
    uses = run_kinds(cfg)
    own = config_slice(cfg, ("data", "model", "sampler", "algorithm", "reward", "curve", "seed"))
    return [Node("finetune", "finetune", own, (), "instance", uses),
            Node("evaluate", "evaluate", evaluation_config(cfg), ("finetune",), "instance", uses)]


# the files a pipeline is loaded from (nothing else is downloaded or trusted)
SD_FILES = ("model_index.json", "scheduler/*.json", "tokenizer/*", "text_encoder/*.json",
            "text_encoder/model.safetensors", "unet/*.json", "unet/diffusion_pytorch_model.safetensors",
            "vae/*.json", "vae/diffusion_pytorch_model.safetensors")
SD_REQUIRED = ("text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
               "vae/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json")


def hub_needs(model) -> list:
    from ..hub import Need
    return [Need(model.pretrained.id, model.pretrained.revision, SD_FILES, SD_REQUIRED)]


register(Kind("model", "stable_diffusion", StableDiffusionModel, code="engine.models.stable_diffusion",
              rules=rules, graph=graph,
              traits={"needs": "prompts", "samples": "text_images", "prompted": True, "hub_needs": hub_needs}))
