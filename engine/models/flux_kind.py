"""Model family `flux`: FLUX.1-dev (diffusers FluxPipeline components) as a rectified flow with LoRA
adapters on its transformer, a pinned, gated hub pipeline; no upstream stages (the rewards load their
own hub models); one (multi-GPU) finetune job per run, then evaluate. Sampled by the flow SDE (sampler
kind `flow_sde`) and tuned by a policy-gradient algorithm (MixGRPO, DDPO)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..registry import Kind, Node, register
from ..spec.base import Pretrained, Strict
from .declare import config_slice, evaluation_config, flow_family_rules, run_kinds

# Flow-GRPO's FLUX recipe (scripts/train_flux.py): MixGRPO's own code trains the whole transformer
FLUX_LORA_TARGETS = ["attn.to_k", "attn.to_q", "attn.to_v", "attn.to_out.0", "attn.add_k_proj", "attn.add_q_proj",
                     "attn.add_v_proj", "attn.to_add_out", "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj",
                     "ff_context.net.2"]


class FluxLoRA(Strict):
    """Low-rank adapters (peft) on the transformer's attention and feed-forward projections; only they train."""
    rank: int = Field(64, ge=1, le=4096)
    alpha: float = Field(128.0, gt=0)
    target_modules: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.]+$")]] = Field(
        FLUX_LORA_TARGETS, min_length=1, max_length=64)


class FluxModel(Strict):
    """A diffusers FLUX pipeline (MM-DiT transformer predicting the flow's velocity, VAE, CLIP pooled and T5
    text embeddings) with LoRA adapters on the transformer and FLUX.1-dev's embedded (distilled) guidance."""
    kind: Literal["flux"]
    pretrained: Pretrained
    resolution: int = Field(1024, ge=16, le=4096)
    guidance_scale: float = Field(3.5, ge=0, le=100)            # the guidance embedding's value (no CFG pass)
    shift: float | None = Field(None, gt=0, le=100)             # the grid's time shift; None: exp(mu(resolution))
    max_sequence_length: int = Field(512, ge=1, le=512)         # T5 tokens
    lora: FluxLoRA = FluxLoRA()
    precision: Literal["fp32", "bf16"] = "fp32"                 # frozen weights + autocast on GPUs; CPUs run fp32
    gradient_checkpointing: bool = False
    steps_per_backward: int = Field(1, ge=1, le=10_000)        # memory: trained steps per backward pass
    sample_batch: int = Field(8, ge=1, le=65_536)              # memory: chains per evaluation batch
    decode_batch: int = Field(4, ge=1, le=65_536)              # memory: latents per VAE decode


def rules(cfg) -> list[tuple[str, str]]:
    return flow_family_rules(cfg)


def graph(cfg) -> list[Node]:
    uses = run_kinds(cfg)
    own = config_slice(cfg, ("data", "model", "sampler", "algorithm", "reward", "curve", "seed"))
    return [Node("finetune", "finetune", own, (), "instance", uses),
            Node("evaluate", "evaluate", evaluation_config(cfg), ("finetune",), "instance", uses)]


# the files a pipeline is loaded from (nothing else is downloaded or trusted: not the single-file checkpoints)
FLUX_FILES = ("model_index.json", "scheduler/*.json", "tokenizer/*", "tokenizer_2/*", "text_encoder/*.json",
              "text_encoder/model.safetensors", "text_encoder_2/*.json", "text_encoder_2/model*.safetensors",
              "transformer/*.json", "transformer/diffusion_pytorch_model*.safetensors", "vae/*.json",
              "vae/diffusion_pytorch_model.safetensors")
FLUX_REQUIRED = ("scheduler/scheduler_config.json", "text_encoder/model.safetensors",
                 "text_encoder_2/model.safetensors.index.json",
                 "transformer/diffusion_pytorch_model.safetensors.index.json",
                 "vae/diffusion_pytorch_model.safetensors")


def hub_needs(model) -> list:
    """FLUX.1-dev is gated: the hub serves it to accounts that accepted its licence (HF_TOKEN)."""
    from ..hub import Need
    return [Need(model.pretrained.id, model.pretrained.revision, FLUX_FILES, FLUX_REQUIRED, gated=True)]


register(Kind("model", "flux", FluxModel, code="engine.models.flux", rules=rules, graph=graph,
              traits={"needs": "prompts", "samples": "text_images", "prompted": True, "hub_needs": hub_needs,
                      "parameterisation": "velocity"}))
