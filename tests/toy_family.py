"""A family defined entirely outside the engine (the plug-in contract test): a data source, an
analysis, a stage kind, metrics and series. `ENGINE_PLUGINS=tests.toy_family` registers it;
no engine file names it. It estimates a mean from n noisy points: the error shrinks with n.

Imports: pydantic, the registry and the spec building blocks only (declarations stay light)."""
from __future__ import annotations

import json
import random
import time
from typing import Literal

from pydantic import Field

from engine.registry import Kind, Metric, Node, Series, StageKind, register
from engine.spec.base import Strict, identity_dump


class ToyPoints(Strict):
    kind: Literal["toy_points"]
    n: int = Field(10, ge=1, le=100_000)
    mean: float = 0.0


class ToyMean(Strict):
    kind: Literal["toy_mean"]
    shrink: float = Field(1.0, gt=0, le=1)          # the estimate is shrink * sample mean


def rules(cfg) -> list[tuple[str, str]]:
    if cfg.data is None or cfg.data.kind != "toy_points":
        return [("data", "toy_mean needs `data: {kind: toy_points}`")]
    return []


def graph(cfg) -> list[Node]:
    points = Node("points", "toy_sample", {"data": identity_dump(cfg.data), "seed": cfg.seed}, (), "spec")
    return [points, Node("estimate", "compute", {"analysis": identity_dump(cfg.analysis), "seed": cfg.seed},
                         ("points",), "spec", (("data", "toy_points"),))]


# the stage kind: draw the points
def run(instance, out_dir, log) -> dict:
    cfg = instance.config
    rng = random.Random(cfg["seed"])
    xs = [cfg["data"]["mean"] + rng.gauss(0.0, 1.0) for _ in range(cfg["data"]["n"])]
    running = [sum(xs[:i + 1]) / (i + 1) for i in range(len(xs))]
    (out_dir / "points.json").write_text(json.dumps({"xs": xs, "mean": cfg["data"]["mean"]}))
    (out_dir / "metrics.json").write_text(json.dumps({"spread": max(xs) - min(xs), "seconds": time.process_time()}))
    (out_dir / "series.json").write_text(json.dumps({"running_mean": {"x": list(range(1, len(xs) + 1)),
                                                                      "y": running}}))
    log(f"{len(xs)} points")
    return {}


# the analysis: estimate the mean from the stored points
def compute(analysis, seed: int, upstream: dict) -> dict:
    from engine import store
    points = store.read_json("toy_sample", upstream["points"], "points.json")
    estimate = analysis.shrink * sum(points["xs"]) / len(points["xs"])
    return {"metrics": {"error": abs(estimate - points["mean"])}}


register(Kind("data", "toy_points", ToyPoints, traits={"provides": "toy"}))
register(Kind("analysis", "toy_mean", ToyMean, code=__name__, rules=rules, graph=graph,
              traits={"metrics": (Metric("error"),)}))
register(StageKind("toy_sample", version=1, code=__name__,
                   metrics=lambda cfg, roles: [Metric("spread"), Metric("seconds", determinism="none")],
                   series=lambda cfg, roles: [Series("running_mean", x="n")]))
