"""Sampler kind `flow_sde`: the flow SDE of Flow-GRPO / MixGRPO on a rectified flow, with the
paper's stochasticity lambda (Flow-GRPO's eta = sqrt(2) lambda; 0 = the Euler ODE)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register, trait
from ..spec.base import Strict


class FlowSDESampler(Strict):
    """Euler-Maruyama on the marginal-preserving flow SDE; stochasticity lambda >= 0 (0 = Euler ODE)."""
    kind: Literal["flow_sde"]
    steps: int = Field(10, ge=1, le=10_000)
    stochasticity: float = Field(1.0, ge=0, le=1_000)


def rules(cfg) -> list[tuple[str, str]]:
    if cfg.model is not None and trait(cfg, "model", "parameterisation", "eps") != "velocity":
        return [("sampler.kind", f"flow_sde steps a velocity (rectified-flow) model; model '{cfg.model.kind}' "
                                 f"predicts noise (use gddim)")]
    return []


register(Kind("sampler", "flow_sde", FlowSDESampler, code="engine.samplers.flow_sde", rules=rules,
              traits={"noise_field": "stochasticity"}))
