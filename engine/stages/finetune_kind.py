"""Stage kind `finetune`: policy optimisation of one run with its training curve, and the
`curve` block of a run (what the curve logs; part of the finetune hash)."""
from __future__ import annotations

from pydantic import Field

from ..registry import Block, Series, StageKind, register, trait
from ..spec.base import Strict


class Curve(Strict):
    """Training curve logged by the finetune stage (part of its hash)."""
    every: int = Field(10, ge=1)
    samples: int = Field(4096, ge=16, le=10_000_000)   # Monte Carlo only


CURVE = ("reward_ode", "reward_sde", "gap", "improvement")


def series(cfg, roles) -> list[Series]:
    """E[r] under the ODE and the training sampler every `curve.every` epochs (epoch 0 = pretrained),
    and what the model family adds to each point (its `series` trait, a function of the run)."""
    family = trait(cfg, "model", "series", None)
    return [Series(name, x="epoch", file="curve.json") for name in CURVE] + list(family(cfg) if family else ())


def metrics(cfg, roles) -> list:
    """What the algorithm declares of its training (its `train_metrics` trait: MixGRPO's timings)."""
    return list(trait(cfg, "algorithm", "train_metrics", ()))


register(Block("curve", Curve))
register(StageKind("finetune", version=2, code="engine.stages.finetune", series=series, metrics=metrics,
                   distributed=True))
