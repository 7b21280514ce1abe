"""Model family `flow_unet`: the digits UNet as a rectified flow (velocity prediction),
pretrained in the DAG by its own `pretrain` block, sampled by the flow SDE (sampler kind
`flow_sde`) and tuned by a policy-gradient algorithm. It shares the data, reward and judge
stages of the `unet` family."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..registry import Kind, register
from ..spec.base import Strict
from .declare import diffusion_rules, learns_from_pairs
from .unet_kind import policy_gradient_nodes


class FlowPretrain(Strict):
    """Rectified-flow pretraining of the UNet (velocity prediction; its own stage, shared across runs)."""
    steps: int = Field(2000, ge=1, le=10_000_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    lr: float = Field(2e-3, gt=0, le=1)
    ema_decay: float = Field(0.995, ge=0, lt=1)
    time_sampling: Literal["uniform", "logit_normal"] = "uniform"
    seed: int = Field(0, ge=0)


class FlowUNetModel(Strict):
    """A class-conditional diffusers UNet2DModel predicting the rectified flow's velocity."""
    kind: Literal["flow_unet"]
    channels: list[Annotated[int, Field(ge=4, le=4096)]] = Field([32, 64], min_length=1, max_length=6)
    layers_per_block: int = Field(1, ge=1, le=8)
    norm_groups: int = Field(8, ge=1, le=64)
    shift: float = Field(1.0, gt=0, le=100)     # the sampling grid's time shift (SD3/FLUX); 1 = uniform in t
    pretrain: FlowPretrain = FlowPretrain()

    @field_validator("norm_groups")
    @classmethod
    def _groups(cls, v: int, info: ValidationInfo) -> int:
        channels = info.data.get("channels") or []
        if any(c % v for c in channels):
            raise ValueError(f"every channel count ({channels}) must be divisible by norm_groups {v}")
        return v


def rules(cfg) -> list[tuple[str, str]]:
    errors = diffusion_rules(cfg)
    if errors:
        return errors
    if cfg.sampler.kind != "flow_sde":
        errors.append(("sampler.kind", f"a rectified flow is sampled by flow_sde, not '{cfg.sampler.kind}'"))
    if learns_from_pairs(cfg):
        errors.append(("algorithm.kind", f"flow_unet is tuned by a policy-gradient algorithm, not "
                                         f"'{cfg.algorithm.kind}' (pairs are for the unet family)"))
    return errors


register(Kind("model", "flow_unet", FlowUNetModel, code="engine.models.flow_unet", rules=rules,
              graph=policy_gradient_nodes,
              traits={"needs": "labelled_images", "samples": "class_images", "prompted": True,
                      "parameterisation": "velocity"}))
