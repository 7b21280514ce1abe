"""Model family `tiny_lm`: a causal language model of a few layers (transformers Llama, character
vocabulary) pretrained and SFT-ed in the DAG, then tuned from preference pairs (the RainbowPO
miniature, arXiv 2410.04203). No sampler, no reward, no image.

Graph: lm_pretrain -> lm_sft -> lm_pairs (K SFT samples per prompt labelled by a length-biased
judge; plain and rejection-sampled pairs) -> lm_po (the run's preference loss; the `rainbow`
variant reads the combination lm_select chose greedily on validation seeds) -> lm_evaluate (a
separate length-controlled judge against the SFT model's answers on the test prompts)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..registry import Kind, Node, kind, register
from ..spec.base import Strict
from ..models.declare import dump, required


class Architecture(Strict):
    hidden: int = Field(128, ge=8, le=16_384)
    intermediate: int = Field(256, ge=8, le=65_536)
    layers: int = Field(4, ge=1, le=128)
    heads: int = Field(4, ge=1, le=128)
    max_length: int = Field(64, ge=8, le=131_072)

    @model_validator(mode="after")
    def _heads(self):
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        return self


class Pretrain(Strict):
    """Maximum likelihood on the whole sequence of the pretraining corpus (Adam, constant rate)."""
    steps: int = Field(1500, ge=1, le=10**7)
    batch_size: int = Field(64, ge=1, le=65_536)
    lr: float = Field(3e-3, gt=0, le=1)
    seed: int = Field(0, ge=0)


class SFT(Strict):
    """Maximum likelihood on the response of SFT demonstrations: the right answer, or with
    `error_prob` a near miss; explained with `explain_prob`; then 0..max_pad " ok" paddings."""
    steps: int = Field(600, ge=1, le=10**7)
    batch_size: int = Field(64, ge=1, le=65_536)
    lr: float = Field(1e-3, gt=0, le=1)
    explain_prob: float = Field(0.3, ge=0, le=1)
    error_prob: float = Field(0.25, ge=0, le=1)
    max_pad: int = Field(2, ge=0, le=100)
    seed: int = Field(0, ge=0)


class Pairs(Strict):
    """K samples per pair prompt from the SFT model at `temperature`, scored by the training judge
    (engine/language/judges.py); plain pairs: best against worst, ties skipped. Rejection-sampled
    pairs (RSO): each sample is accepted with probability exp((r - max r) / rejection_beta), then
    best against worst among the accepted."""
    samples: int = Field(4, ge=2, le=1024)
    temperature: float = Field(1.0, gt=0, le=10)
    rejection_beta: float = Field(0.5, gt=0, le=100)


class TinyLM(Strict):
    kind: Literal["tiny_lm"]
    arch: Architecture = Architecture()
    pretrain: Pretrain = Pretrain()
    sft: SFT = SFT()
    pairs: Pairs = Pairs()
    max_new: int = Field(40, ge=1, le=4096)      # generated tokens at most


def rules(cfg) -> list[tuple[str, str]]:
    errors = required(cfg, ("data", "algorithm"))
    if errors:
        return errors
    if kind("data", cfg.data.kind).traits.get("provides") != "text_tasks":
        return [("data.kind", f"model 'tiny_lm' needs a text task (data kind 'arithmetic'), not '{cfg.data.kind}'")]
    if kind("algorithm", cfg.algorithm.kind).traits.get("needs") != "pairs":
        return [("algorithm.kind", f"model 'tiny_lm' learns from preference pairs (algorithm 'preference'), "
                                   f"not '{cfg.algorithm.kind}'")]
    return [(room, f"model 'tiny_lm' takes no {room}") for room in ("sampler", "reward")
            if getattr(cfg, room, None) is not None]


def graph(cfg) -> list[Node]:
    data, model, alg = dump(cfg.data), dump(cfg.model), dump(cfg.algorithm)
    uses = (("data", cfg.data.kind), ("model", "tiny_lm"), ("algorithm", cfg.algorithm.kind))
    pairs = {"pairs": model["pairs"], "max_new": model["max_new"], "seed": cfg.seed}
    nodes = [Node("pretrain", "lm_pretrain", {"data": data, "arch": model["arch"], "pretrain": model["pretrain"]},
                  (), "instance", uses[:2]),
             Node("sft", "lm_sft", {"sft": model["sft"]}, ("pretrain",), "instance", uses[:2]),
             Node("pairs", "lm_pairs", pairs, ("sft",), "spec", uses[:2])]
    po_up = ("sft", "pairs")
    if cfg.algorithm.variant == "rainbow":
        select = {"algorithm": {k: v for k, v in alg.items() if k != "variant"},
                  "pairs": model["pairs"], "max_new": model["max_new"]}
        nodes.append(Node("select", "lm_select", select, ("sft",), "instance", uses))
        po_up += ("select",)
    nodes.append(Node("po", "lm_po", {"algorithm": alg, "seed": cfg.seed}, po_up, "spec", uses))
    nodes.append(Node("evaluate", "lm_evaluate", {"max_new": model["max_new"]}, ("po", "sft"), "spec", uses))
    return nodes


register(Kind("model", "tiny_lm", TinyLM, code="engine.language.lm", rules=rules, graph=graph,
              traits={"needs": "text_tasks", "samples": "text", "prompted": True}))
