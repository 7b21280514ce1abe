"""Model family `stable_diffusion`: a pinned hub pipeline with LoRA adapters; no upstream
stages (the rewards load their own hub models); one (multi-GPU) job per run."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..registry import Kind, Node, register
from ..spec.base import Pretrained, Strict
from .declare import config_slice, diffusion_rules, evaluation_config, run_kinds


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


def graph(cfg) -> list[Node]:
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
              rules=diffusion_rules, graph=graph,
              traits={"needs": "prompts", "samples": "text_images", "prompted": True, "hub_needs": hub_needs}))
