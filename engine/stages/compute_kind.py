"""Stage kind `compute`: the generic stage of an analysis (a run that only computes, with no
model: a Riccati optimum, a mechanism's utility). It calls the analysis kind's implementation,
`compute(config, seed, upstream) -> {"metrics": {name: float}, "series": {name: {"x": [...],
"y": [...]}}}`, and writes metrics.json and series.json. The analysis kind declares what it
writes in its traits `metrics` and `series`, and says in its graph which stage instances the
run needs (by default this one)."""
from __future__ import annotations

from ..registry import Node, StageKind, register, trait


def metrics(cfg, roles):
    return list(trait(cfg, "analysis", "metrics", ()))


def series(cfg, roles):
    return list(trait(cfg, "analysis", "series", ()))


def graph(cfg) -> list[Node]:
    """The default graph of an analysis: one compute instance of its config and seed, batched per spec."""
    from ..models.declare import config_slice, run_kinds
    return [Node("analysis", "compute", config_slice(cfg, ("analysis", "seed")), (), "spec", run_kinds(cfg))]


register(StageKind("compute", version=1, code="engine.stages.compute", metrics=metrics, series=series))
