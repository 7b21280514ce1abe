"""Collect per-run numbers from the store and group them into cells over seeds."""
from __future__ import annotations

import math
import statistics
from collections import OrderedDict

from .. import store
from ..errors import EngineError


def selected_runs(spec, where: dict) -> list:
    return [r for r in spec.runs if all(r.field(k) == v for k, v in where.items())]


def eval_metrics(plan, run) -> dict:
    return store.read_json("evaluate", plan.run_hash(run, "evaluate"), "metrics.json")


def curve(plan, run) -> list[dict]:
    return store.read_json("finetune", plan.run_hash(run, "finetune"), "curve.json")


def metrics(plan, run) -> dict:
    """Every scalar metric of a run (name -> value), from the stages that declare them."""
    return eval_metrics(plan, run)


def series(plan, run, name: str) -> tuple[list, list]:
    """One series of a run as (xs, ys); a training curve's x is the epoch (epoch 0 = pretrained)."""
    rows = curve(plan, run)
    return [r["epoch"] for r in rows], [r[name] for r in rows]


def group(spec, runs, keys: list[str], label: str) -> "OrderedDict[tuple, list]":
    """Runs grouped by the values of `keys`; within a group only the seed may differ."""
    groups: OrderedDict[tuple, list] = OrderedDict()
    for r in runs:
        groups.setdefault(tuple(r.field(k) for k in keys), []).append(r)
    free = [a for a in spec.axes if a != "seed" and a not in keys]
    for members in groups.values():
        for a in free:
            values = {repr(m.field(a)) for m in members}
            if len(values) > 1:
                raise EngineError(f"{label}: runs in one cell differ in '{a}' ({', '.join(sorted(values))}); "
                                  f"add '{a}' to the layout or fix it with `where:`")
    return groups


def mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    if len(values) == 1:
        return values[0], 0.0
    return statistics.fmean(values), statistics.stdev(values)


def fmt_value(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
