"""compute: run an analysis kind's `compute` function and store its metrics and series
(engine/stages/compute_kind.py says the contract)."""
from __future__ import annotations

import json
import math

from .. import registry
from ..errors import NumericalFault
from ..spec.models import run_model


def run(instance, out_dir, log) -> dict:
    cfg = run_model().model_validate({k: v for k, v in instance.config.items()})
    analysis = registry.kind("analysis", cfg.analysis.kind)
    result = registry.implementation(analysis).compute(cfg.analysis, cfg.seed, instance.upstream_by_role())
    metrics, series = dict(result.get("metrics", {})), dict(result.get("series", {}))
    declared = {m.name for m in analysis.traits.get("metrics", ())} | {s.name for s in analysis.traits.get("series", ())}
    undeclared = sorted((set(metrics) | set(series)) - declared)
    if undeclared:
        raise ValueError(f"analysis {analysis.name} wrote undeclared outputs: {', '.join(undeclared)}")
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise NumericalFault(f"non-finite {', '.join(bad)}")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False))
    (out_dir / "series.json").write_text(json.dumps(series, indent=1, allow_nan=False))
    log(f"{analysis.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    return metrics
