"""Model family `unet`: a class-conditional diffusers UNet2DModel pretrained in the DAG on
the digits (data -> pretrain), judged by a classifier trained in its own stage. Tuned by a
policy-gradient algorithm (finetune) or, for an algorithm that learns from pairs, offline from
image pairs (engine/imagepo/graph.py)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..registry import Kind, Node, kind, register
from ..spec.base import Strict
from .declare import config_slice, diffusion_rules, dump, evaluation_config, learns_from_pairs, run_kinds


class Pretrain(Strict):
    """DDPM epsilon-prediction pretraining of the UNet (its own stage; shared across runs)."""
    steps: int = Field(2000, ge=1, le=10_000_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    lr: float = Field(2e-3, gt=0, le=1)
    ema_decay: float = Field(0.995, ge=0, lt=1)
    train_timesteps: int = Field(1000, ge=10, le=100_000)
    beta_start: float = Field(1e-4, gt=0, lt=1)
    beta_end: float = Field(0.02, gt=0, lt=1)
    seed: int = Field(0, ge=0)


class UNetArchitecture(Strict):
    """The fields of the class-conditional diffusers UNet2DModel the digits families share."""
    channels: list[Annotated[int, Field(ge=4, le=4096)]] = Field([32, 64], min_length=1, max_length=6)
    layers_per_block: int = Field(1, ge=1, le=8)
    norm_groups: int = Field(8, ge=1, le=64)

    @field_validator("norm_groups")
    @classmethod
    def _groups(cls, v: int, info: ValidationInfo) -> int:
        channels = info.data.get("channels") or []
        if any(c % v for c in channels):
            raise ValueError(f"every channel count ({channels}) must be divisible by norm_groups {v}")
        return v


class UNetModel(UNetArchitecture):
    """A class-conditional diffusers UNet2DModel (the class label is the prompt)."""
    kind: Literal["unet"]
    pretrain: Pretrain = Pretrain()


def rules(cfg) -> list[tuple[str, str]]:
    errors = diffusion_rules(cfg)
    if not errors and learns_from_pairs(cfg):
        from ..imagepo.graph import rules as pair_rules
        errors = pair_rules(cfg)
    return errors


def graph(cfg) -> list[Node]:
    if learns_from_pairs(cfg):                   # offline preference tuning: engine/imagepo/graph.py
        from ..imagepo.graph import nodes
        return nodes(cfg)
    return policy_gradient_nodes(cfg)


def policy_gradient_nodes(cfg) -> list[Node]:
    """data -> pretrain, judge, the reward's own nodes -> finetune -> evaluate (also the flow family's)."""
    uses = run_kinds(cfg)
    nodes = [Node("data", "data", config_slice(cfg, ("data",)), (), "instance"),
             Node("pretrain", "pretrain", config_slice(cfg, ("model",)), ("data",), "instance"),
             Node("judge", "classifier", {"classifier": dump(cfg.evaluation.judge)}, ("data",), "instance")]
    reward_nodes = kind("reward", cfg.reward.kind).traits.get("nodes", lambda cfg: [])(cfg)
    nodes += reward_nodes
    finetune_up = ("pretrain",) + tuple(n.role for n in reward_nodes)
    nodes.append(Node("finetune", "finetune", config_slice(cfg, ("sampler", "algorithm", "reward", "curve", "seed")),
                      finetune_up, "spec", uses))
    nodes.append(Node("evaluate", "evaluate", evaluation_config(cfg), ("finetune", "judge"), "spec", uses))
    return nodes


register(Kind("model", "unet", UNetModel, code="engine.models.unet", rules=rules, graph=graph,
              traits={"needs": "labelled_images", "samples": "class_images", "prompted": True}))
