"""Model family `gaussian_score`: the exact score of Gaussian data plus a learnable per-step
affine correction; expected rewards are exact (no pretraining, no data stage)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, Metric, Node, Series, register
from ..spec.base import Strict, neutral
from .declare import config_slice, diffusion_rules, evaluation_config, run_kinds
from .process_spec import Process


class GaussianScoreModel(Strict):
    """Exact score of the data family plus a learnable per-step affine correction."""
    kind: Literal["gaussian_score"]
    process: Process
    init_scale: float = Field(0.0, ge=0)   # std of the correction's initial values
    # where sampling starts: "process", N(0, prior_std^2 I) (VP: 1, VE: sigma_max^2); "marginal", the
    # exact forward marginal of the data at the last grid level (VE: N(mu, sigma_max^2 + v))
    start: Literal["process", "marginal"] = neutral("process")
    # the correction: one affine map per step, or continuous in time (polynomial of degree time_degree in
    # the level's time: one policy at every step count; the continuous-time RL papers' policy)
    correction: Literal["per_step", "continuous"] = neutral("per_step")
    time_degree: int = neutral(3, ge=0, le=8)


def graph(cfg) -> list[Node]:
    uses = run_kinds(cfg)
    own = config_slice(cfg, ("data", "model", "sampler", "algorithm", "reward", "curve", "seed"))
    return [Node("finetune", "finetune", own, (), "spec", uses),
            Node("evaluate", "evaluate", evaluation_config(cfg), ("finetune",), "spec", uses)]


OPTIMUM = {
    "w2_ode": "W2 from the ODE sampler's terminal law to the tilted target p* (exact)",
    "w2_sde": "W2 from the training sampler's terminal law to p* (exact)",
    "kl": "KL(fine-tuned chains || pretrained chains) under the training sampler (exact)",
    "objective": "E[r] under the training sampler - beta KL: what KL-regularised fine-tuning maximises",
    "reward_ode_optimum": "E[r] of theta* (the score of p*) under the ODE sampler",
    "reward_sde_optimum": "E[r] of theta* under the training sampler",
    "gap_optimum": "theta*'s reward gap: the discretisation-only gap of the KL-regularised problem",
    "w2_ode_optimum": "W2 of theta*'s ODE terminal law to p* (discretisation only)",
    "w2_sde_optimum": "W2 of theta*'s training-sampler terminal law to p* (discretisation only)",
    "kl_optimum": "theta*'s chain KL to the pretrained model",
    "objective_optimum": "theta*'s objective E_sde[r] - beta KL",
    "w2_ode_pretrained": "W2 of the pretrained ODE terminal law to p*",
    "w2_sde_pretrained": "W2 of the pretrained training-sampler terminal law to p*",
}
CURVE = ("w2_ode", "w2_sde", "kl")


def has_optimum(cfg) -> bool:
    """theta* in closed form: Gaussian data and a quadratic reward (engine/models/gaussian.py)."""
    return cfg.data.kind == "gaussian" and cfg.reward is not None and cfg.reward.kind == "quadratic"


def metrics(cfg) -> tuple[Metric, ...]:
    return tuple(Metric(n, doc=d) for n, d in OPTIMUM.items()) if has_optimum(cfg) else ()


def series(cfg) -> tuple[Series, ...]:
    return tuple(Series(n, x="epoch", file="curve.json") for n in CURVE) if has_optimum(cfg) else ()


register(Kind("model", "gaussian_score", GaussianScoreModel, code="engine.models.gaussian", rules=diffusion_rules, graph=graph,
              version=2, traits={"needs": "vectors", "samples": "vectors", "prompted": False,
                                 "metrics": metrics, "series": series}))
