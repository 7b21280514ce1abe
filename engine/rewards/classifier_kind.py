"""Reward kind `classifier`: log p(c | x) under a digit classifier trained in its own stage
(role `reward_model`). `Classifier` also configures the evaluation judge."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, Node, register
from ..spec.base import Strict, identity_dump


class Classifier(Strict):
    """A small digit classifier trained in its own stage (reward model or judge)."""
    arch: Literal["cnn", "mlp"] = "cnn"
    width: int = Field(32, ge=4, le=4096)
    steps: int = Field(600, ge=1, le=1_000_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    lr: float = Field(2e-3, gt=0, le=1)
    seed: int = Field(0, ge=0)


class ClassifierReward(Strict):
    """r(x, c) = log p(c | x) under a trained classifier (the prompt c is the class)."""
    kind: Literal["classifier"]
    model: Classifier = Classifier()


def nodes(cfg) -> list[Node]:
    """The reward model: a classifier trained on the run's data."""
    return [Node("reward_model", "classifier", {"classifier": identity_dump(cfg.reward.model)}, ("data",), "instance")]


register(Kind("reward", "classifier", ClassifierReward, code="engine.rewards.classifier",
              traits={"accepts": ("class_images",), "nodes": nodes}))
