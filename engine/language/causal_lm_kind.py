"""Model family `causal_lm`: a pretrained causal language model from the hub (Llama-3-8B-Instruct
at RainbowPO's paper scale), tuned from a pairs file with the run's preference loss, LoRA or full
fine-tuning, data parallel under torchrun. One stage instance per run (`lm_hub_po`)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..algorithms.preference_kind import parse_variant
from ..registry import Kind, Node, kind, register
from ..spec.base import Pretrained, Strict
from ..models.declare import dump, required, run_kinds


class LMLoRA(Strict):
    """Low-rank adapters (peft) on the attention projections; only they are trained, and the
    reference is the same model with its adapters switched off."""
    rank: int = Field(16, ge=1, le=4096)
    alpha: float = Field(32.0, gt=0)
    target_modules: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.]+$")]] = Field(
        ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1, max_length=64)


class CausalLM(Strict):
    kind: Literal["causal_lm"]
    pretrained: Pretrained
    gated: bool = False                          # fetch-models needs HF_TOKEN (a licence accepted on the hub)
    lora: LMLoRA | None = LMLoRA()               # None: full fine-tuning (a frozen copy is the reference)
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 weights on GPUs; CPUs run fp32
    max_length: int = Field(1024, ge=8, le=131_072)     # longer pairs are skipped (counted)


LM_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "model*.safetensors", "model.safetensors.index.json")


def hub_needs(model) -> list:
    from ..hub import Need
    return [Need(model.pretrained.id, model.pretrained.revision, LM_FILES, ("config.json",), gated=model.gated)]


def rules(cfg) -> list[tuple[str, str]]:
    errors = required(cfg, ("data", "algorithm"))
    if errors:
        return errors
    if kind("data", cfg.data.kind).traits.get("provides") != "preference_pairs":
        return [("data.kind", f"model 'causal_lm' learns from a pairs file (data kind 'pairs_file'), "
                              f"not '{cfg.data.kind}'")]
    if kind("algorithm", cfg.algorithm.kind).traits.get("needs") != "pairs":
        return [("algorithm.kind", f"model 'causal_lm' needs a preference algorithm, not '{cfg.algorithm.kind}'")]
    base, components = parse_variant(cfg.algorithm.variant)
    if base == "rainbow" or "rejection" in components:
        return [("algorithm.variant", "a pairs file has no validation runs or SFT samples: name the combination "
                                      "(no 'rainbow') and leave out 'rejection'")]
    return [(room, f"model 'causal_lm' takes no {room}") for room in ("sampler", "reward")
            if getattr(cfg, room, None) is not None]


def graph(cfg) -> list[Node]:
    own = {"data": dump(cfg.data), "model": dump(cfg.model), "algorithm": dump(cfg.algorithm), "seed": cfg.seed}
    return [Node("po", "lm_hub_po", own, (), "instance", run_kinds(cfg))]


register(Kind("model", "causal_lm", CausalLM, version=2, code="engine.language.lm_hub_po", rules=rules, graph=graph,
              traits={"needs": "preference_pairs", "samples": "text", "prompted": True, "hub_needs": hub_needs}))
