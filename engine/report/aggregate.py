"""Collect per-run numbers from the store and group them into cells over seeds."""
from __future__ import annotations

import math
import statistics
from collections import OrderedDict

from .. import store
from ..errors import EngineError
from ..spec.resolve import selected


def selected_runs(spec, where: dict) -> list:
    """The runs a `where:` filter keeps, compared typed as validation did (spec/resolve.py)."""
    return selected(spec.runs, where)


def metrics(plan, run, names=None) -> dict:
    """The scalar metrics `names` of a run (default: every one), name -> value, read from the
    stages that declare them (engine/registry.py) and only those: an output reads just the results
    it depends on. A stage's metrics.json may hold more (training statistics)."""
    out = {}
    wanted = run.metrics if names is None else {n: run.metrics[n] for n in names}
    for role in dict.fromkeys(role for role, _ in wanted.values()):
        stage = plan.instances[plan.run_hash(run, role)].stage
        values = store.read_json(stage, plan.run_hash(run, role), "metrics.json")
        out.update((name, values[name]) for name, (r, _) in wanted.items() if r == role and name in values)
    return out


def series(plan, run, name: str) -> tuple[list, list]:
    """One series of a run as (xs, ys): from a list of records holding x and the series (a
    training curve, x = epoch, epoch 0 = pretrained), or from a mapping name -> {"x", "y"}."""
    role, decl = run.series[name]
    data = store.read_json(plan.instances[plan.run_hash(run, role)].stage, plan.run_hash(run, role), decl.file)
    if isinstance(data, list):
        return [r[decl.x] for r in data], [r[name] for r in data]
    return list(data[name]["x"]), list(data[name]["y"])


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
