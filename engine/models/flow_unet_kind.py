"""Model family `flow_unet`: the digits UNet as a rectified flow (velocity prediction),
pretrained in the DAG by its own `pretrain` block, sampled by the flow SDE (sampler kind
`flow_sde`) and tuned by a policy-gradient algorithm. It shares the data, reward and judge
stages of the `unet` family."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import Strict
from .declare import flow_family_rules
from .unet_kind import UNetArchitecture, policy_gradient_nodes


class FlowPretrain(Strict):
    """Rectified-flow pretraining of the UNet (velocity prediction; its own stage, shared across runs)."""
    steps: int = Field(2000, ge=1, le=10_000_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    lr: float = Field(2e-3, gt=0, le=1)
    ema_decay: float = Field(0.995, ge=0, lt=1)
    time_sampling: Literal["uniform", "logit_normal"] = "uniform"
    seed: int = Field(0, ge=0)


class FlowUNetModel(UNetArchitecture):
    """A class-conditional diffusers UNet2DModel predicting the rectified flow's velocity."""
    kind: Literal["flow_unet"]
    shift: float = Field(1.0, gt=0, le=100)     # the sampling grid's time shift (SD3/FLUX); 1 = uniform in t
    pretrain: FlowPretrain = FlowPretrain()


def rules(cfg) -> list[tuple[str, str]]:
    return flow_family_rules(cfg)


register(Kind("model", "flow_unet", FlowUNetModel, code="engine.models.flow_unet", rules=rules,
              graph=policy_gradient_nodes,
              traits={"needs": "labelled_images", "samples": "class_images", "prompted": True,
                      "parameterisation": "velocity"}))
