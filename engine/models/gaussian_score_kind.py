"""Model family `gaussian_score`: the exact score of Gaussian data plus a learnable per-step
affine correction; expected rewards are exact (no pretraining, no data stage)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, Node, register
from ..spec.base import Strict
from .declare import config_slice, diffusion_rules, evaluation_config, run_kinds
from .process_spec import Process


class GaussianScoreModel(Strict):
    """Exact score of the data family plus a learnable per-step affine correction."""
    kind: Literal["gaussian_score"]
    process: Process
    init_scale: float = Field(0.0, ge=0)   # std of the correction's initial values


def graph(cfg) -> list[Node]:
    uses = run_kinds(cfg)
    own = config_slice(cfg, ("data", "model", "sampler", "algorithm", "reward", "curve", "seed"))
    return [Node("finetune", "finetune", own, (), "spec", uses),
            Node("evaluate", "evaluate", evaluation_config(cfg), ("finetune",), "spec", uses)]


register(Kind("model", "gaussian_score", GaussianScoreModel, code="engine.models.gaussian", rules=diffusion_rules, graph=graph,
              traits={"needs": "vectors", "samples": "vectors", "prompted": False}))
