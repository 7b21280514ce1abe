"""Verdicts on a paper's claims, judged with statistics over seeds.

Each check gives one effect per seed in each cell (the runs that differ only in their seed;
for a trend, the groups of the other swept axes), in the metric's units:
  compare           left - scale * right of each run (paired: both metrics come from the same run)
  curve_narrows     |m(last epoch)| - ratio * |m(epoch 0)| of each run (epoch 0 = pretrained)
  curve_below_peak  |m(last epoch)| - ratio * max over epochs |m| of each run
  trend             Spearman rho of the metric with the axis, per seed, across the group
  optimum           best end value - best interior value of the axis (minimum; the reverse for a
                    maximum), per seed, across the group: > 0 is an interior optimum
  contrast          m(axis = value) - m(axis = a) per seed, paired, for each a of `against` (a cell
                    each), per group of the other axes
  reaches           the cost (epochs x the run's cost per epoch) the run at axis = value takes to reach
                    the final value of the series of the run at axis = a, over a's whole cost, minus 1;
                    per seed, paired, a cell per a and group; +inf where it never reaches: a cell
                    where most seeds never reach does not hold, one where some never do cannot hold
A cell's verdict comes from the t interval of its mean effect over seeds against the threshold
±min_effect (stats.verdict). The claim holds when at least min_fraction of its cells hold; it
does not hold when more than 1 - min_fraction of them do not (so min_fraction is out of reach
whatever the inconclusive cells would show); otherwise it is inconclusive. The claim's headline
effect is the mean over cells, with the t interval over seeds of each seed's mean over cells.
"""
from __future__ import annotations

import math

from . import aggregate
from .escape import md_cell
from .stats import FAILS, HOLDS, INCONCLUSIVE, spearman, t_interval, verdict

LEVEL = 0.95


def _per_run(chk, plan, run, metrics, series) -> float:
    if chk.kind == "compare":
        m = metrics(plan, run)
        left, right = float(m[chk.left]), float(m[chk.right])
        return abs(left) - chk.scale * abs(right) if chk.abs else left - chk.scale * right
    _, ys = series(plan, run, chk.metric)
    ref = abs(ys[0]) if chk.kind == "curve_narrows" else max(abs(y) for y in ys)
    return abs(ys[-1]) - chk.ratio * ref


GROUPED = ("trend", "optimum", "contrast", "reaches")   # judged across an axis, per group of the other axes


def _cells(spec, claim) -> tuple[list[str], dict]:
    keys = [a for a in spec.axes if a != "seed"]
    return keys, aggregate.group(spec, aggregate.selected_runs(spec, claim.where), keys, f"claim {claim.name}")


def _runs_across(spec, claim) -> dict[tuple, dict]:
    """group of the other axes -> seed -> {axis value: run}: the runs a grouped check compares."""
    chk = claim.check
    keys, cells = _cells(spec, claim)
    out: dict[tuple, dict] = {}
    for k, runs in cells.items():
        rest = tuple((a, v) for a, v in zip(keys, k) if a != chk.axis)
        for r in runs:
            out.setdefault(rest, {}).setdefault(r.config.seed, {})[r.field(chk.axis)] = r
    return out


def _points(plan, spec, claim, metrics) -> dict[tuple, dict]:
    """A trend's, optimum's or contrast's data: group of the other axes -> seed -> ([axis value], [metric])."""
    return {g: {seed: (list(at), [float(metrics(plan, r)[claim.check.metric]) for r in at.values()])
                for seed, at in by_seed.items()}
            for g, by_seed in _runs_across(spec, claim).items()}


def _samples(plan, spec, claim, metrics, series, points=None) -> dict[tuple, dict]:
    """cell -> {seed: effect}; a cell key is ((axis, value), ...). `points`: a grouped check's data
    (`_points`), read once by the caller."""
    chk = claim.check
    if chk.kind not in GROUPED:
        keys, cells = _cells(spec, claim)
        return {tuple(zip(keys, k)): {r.config.seed: _per_run(chk, plan, r, metrics, series) for r in runs}
                for k, runs in cells.items()}
    if chk.kind == "contrast":
        return contrasts(points, chk)
    if chk.kind == "reaches":
        return reaches(plan, spec, claim, metrics, series)
    effect, need = (spearman, 2) if chk.kind == "trend" else (lambda xs, ys: interior_margin(xs, ys, chk.direction), 3)
    out = {g: {s: effect(xs, ys) for s, (xs, ys) in by_seed.items() if len(set(xs)) >= need}
           for g, by_seed in points.items()}
    return {g: es for g, es in out.items() if es}      # a group needs two (trend) or three values of the axis


def _compared(chk, at) -> list:
    """The axis values a paired check (contrast, reaches) compares `chk.value` with, among those `at` has
    run: `against`, or every other value; none when `value` itself did not run."""
    if chk.value not in at:
        return []
    return [a for a in chk.against or sorted((x for x in at if x != chk.value), key=str) if a in at and a != chk.value]


def contrasts(points: dict, chk) -> dict[tuple, dict]:
    """A contrast's cells: (group + (axis vs, a)) -> {seed: m(value) - m(a)}, for the seeds that ran both."""
    out: dict[tuple, dict] = {}
    for g, by_seed in points.items():
        for seed, (xs, ys) in by_seed.items():
            at = dict(zip(xs, ys))
            for a in _compared(chk, at):
                out.setdefault(g + ((f"{chk.axis} vs", a),), {})[seed] = at[chk.value] - at[a]
    return out


def crossing(xs, ys, target: float) -> float:
    """The first x at which the curve (xs, ys) reaches `target` (linear between points); inf if never."""
    for i, (x, y) in enumerate(zip(xs, ys)):
        if y >= target:
            if i == 0:
                return float(x)
            x0, y0 = xs[i - 1], ys[i - 1]
            return float(x0 + (target - y0) / (y - y0) * (x - x0))
    return math.inf


def reaches(plan, spec, claim, metrics, series) -> dict[tuple, dict]:
    """A `reaches` check's cells: (group + (axis vs, a)) -> {seed: cost to reach a's final value / a's cost - 1}."""
    chk = claim.check
    out: dict[tuple, dict] = {}
    for g, by_seed in _runs_across(spec, claim).items():
        for seed, at in by_seed.items():
            compared = _compared(chk, at)
            if not compared:
                continue
            xs, ys = series(plan, at[chk.value], chk.metric)
            cost = float(metrics(plan, at[chk.value])[chk.cost])
            for a in compared:
                axs, ays = series(plan, at[a], chk.metric)
                total = axs[-1] * float(metrics(plan, at[a])[chk.cost])
                out.setdefault(g + ((f"{chk.axis} vs", a),), {})[seed] = crossing(xs, ys, ays[-1]) * cost / total - 1
    return out


def interior_margin(xs, ys, direction: str) -> float:
    """Best end value - best interior value (minimum), or the reverse (maximum): > 0 when the
    optimum over the axis lies strictly inside its range."""
    by_x = sorted(zip(xs, ys))
    ends, inner = [by_x[0][1], by_x[-1][1]], [y for _, y in by_x[1:-1]]
    return min(ends) - min(inner) if direction == "minimum" else max(inner) - max(ends)


def argbest(points: dict, direction: str) -> dict[tuple, object]:
    """Per group of the other axes (`_points`): the axis value with the best mean over seeds."""
    pick = min if direction == "minimum" else max
    best = {}
    for g, by_seed in points.items():
        values: dict = {}
        for xs, ys in by_seed.values():
            for x, y in zip(xs, ys):
                values.setdefault(x, []).append(y)
        means = {x: sum(v) / len(v) for x, v in values.items()}
        best[g] = pick(means, key=means.get)
    return best


def _describe(chk, min_effect: float) -> tuple[str, str, str, str, float]:
    """(how, unit, reference, direction, threshold) of a check."""
    if chk.kind in ("compare", "contrast"):
        greater = chk.op == ">"
    elif chk.kind == "reaches":
        greater = False
    else:
        greater = (chk.kind == "trend" and chk.direction == "increasing") or chk.kind == "optimum"
    direction, threshold = ("greater", min_effect) if greater else ("less", -min_effect)
    claimed = f"claimed {'>' if greater else '<'} {threshold + 0.0:g}"
    if chk.kind == "compare":
        left, right = (f"|{chk.left}|", f"|{chk.right}|") if chk.abs else (chk.left, chk.right)
        right = right if chk.scale == 1 else f"{chk.scale:g} × {right}"
        return f"{left} − {right} per run, paired ({claimed})", chk.left, right, direction, threshold
    if chk.kind == "contrast":
        others = ", ".join(str(a) for a in chk.against) or "every other value"
        return (f"{chk.metric} at {chk.axis} = {chk.value} − {chk.metric} at each of {others}, per seed, paired, "
                f"per group of the other axes ({claimed})", chk.metric, f"{chk.metric} at {chk.axis} = {others}",
                direction, threshold)
    if chk.kind == "reaches":
        others = ", ".join(str(a) for a in chk.against) or "every other value"
        return (f"{chk.cost} × epochs for {chk.axis} = {chk.value} to reach the final {chk.metric} of each of "
                f"{others}, over that run's whole {chk.cost} × epochs, − 1; per seed, paired ({claimed})",
                "fraction of the cost", f"the whole training of {chk.axis} = {others}", direction, threshold)
    if chk.kind == "optimum":
        best = "min" if chk.direction == "minimum" else "max"
        how = (f"{best} of {chk.metric} at the two ends of {chk.axis} − {best} inside, per seed, per group of the "
               f"other axes ({claimed})" if best == "min" else
               f"max of {chk.metric} inside {chk.axis} − max at its two ends, per seed, per group of the other axes "
               f"({claimed})")
        return how, chk.metric, f"an optimum at an end of {chk.axis}", direction, threshold
    if chk.kind == "trend":
        return (f"Spearman ρ of {chk.metric} with {chk.axis} per seed, per group of the other axes ({claimed})",
                "rank correlation", "ρ = 0 (no trend)", direction, threshold)
    if chk.kind == "curve_narrows":
        ref = f"{chk.ratio:g} × |{chk.metric}| at epoch 0 (pretrained)"
    else:
        ref = f"{chk.ratio:g} × peak |{chk.metric}| over training"
    return f"|{chk.metric}| at the last epoch − {ref}, per run ({claimed})", chk.metric, ref, direction, threshold


def _combine(cells: list[dict], min_fraction: float) -> str:
    total = len(cells)
    if total and sum(c["verdict"] == HOLDS for c in cells) >= min_fraction * total:
        return HOLDS
    if total and sum(c["verdict"] == FAILS for c in cells) > (1 - min_fraction) * total:
        return FAILS
    return INCONCLUSIVE


def _fmt(x: float) -> str:
    return "—" if x != x else f"{x:+.3g}"


def evaluate_claim(plan, spec, claim, metrics=aggregate.metrics, series=aggregate.series) -> dict:
    """Judge one claim (see the module docstring). `metrics(plan, run) -> {name: value}` and
    `series(plan, run, name) -> (xs, ys)` read the stored results."""
    how, unit, reference, direction, threshold = _describe(claim.check, claim.min_effect)
    grouped = claim.check.kind in GROUPED
    points = _points(plan, spec, claim, metrics) if grouped and claim.check.kind != "reaches" else None
    samples = _samples(plan, spec, claim, metrics, series, points)
    cells = []
    for key, by_seed in samples.items():
        iv = t_interval(list(by_seed.values()), LEVEL)
        judged = verdict(iv.lo, iv.hi, threshold, direction)
        if claim.check.kind == "reaches" and 2 * sum(math.isinf(e) for e in by_seed.values()) > len(by_seed):
            judged = FAILS                # most seeds never reach it (some do: no interval to judge)
        cells.append({"cell": dict(key), "effect": iv.mean, "lo": iv.lo, "hi": iv.hi, "n": iv.n,
                      "per_seed": by_seed, "verdict": judged})
    over_cells: dict = {}                           # seed -> its effects in every cell
    for effects in samples.values():
        for seed, e in effects.items():
            over_cells.setdefault(seed, []).append(e)
    pooled = t_interval([sum(es) / len(es) for es in over_cells.values()], LEVEL)

    word = "groups" if grouped and claim.check.kind not in ("contrast", "reaches") else "cells"
    count = {v: sum(c["verdict"] == v for c in cells) for v in (HOLDS, FAILS, INCONCLUSIVE)}
    if cells:
        evidence = [f"{count[HOLDS]}/{len(cells)} {word} hold, {count[FAILS]} do not, "
                    f"{count[INCONCLUSIVE]} inconclusive"]
    else:
        evidence = [f"no {word} to judge" + (f" with enough values of {claim.check.axis}" if grouped else "")]
    if any(c["n"] < 2 for c in cells):
        evidence.append(f"{sum(c['n'] < 2 for c in cells)} {word} with one seed (no interval)")
    if claim.check.kind == "optimum" and cells:
        best = argbest(points, claim.check.direction)
        evidence.append(f"best mean {claim.check.metric} at {claim.check.axis} = "
                        + ", ".join(str(v) for v in best.values()))
    if claim.check.kind == "reaches":
        never = sum(math.isinf(e) for es in samples.values() for e in es.values())
        evidence.append(f"seeds that never reach the target: {never}/{sum(len(es) for es in samples.values())}")
        evidence.append("per seed: " + "; ".join(
            ", ".join(f"{k} {v}" for k, v in c["cell"].items()) + ": " + ", ".join(_fmt(e) for e in c["per_seed"].values())
            for c in cells))
    if claim.check.kind == "contrast":
        if not cells:
            evidence.append(f"no runs with {claim.check.axis} = {claim.check.value} and another value on the same seed")
        effects = [e for es in samples.values() for e in es.values()]
        agree = sum(e > 0 if direction == "greater" else e < 0 for e in effects)
        evidence.append(f"per-seed effects with the claimed sign: {agree}/{len(effects)}")
    if claim.check.kind == "trend":
        rhos = [r for effects in samples.values() for r in effects.values()]
        agree = sum(r > 0 if direction == "greater" else r < 0 for r in rhos)
        evidence.append(f"per-seed ρ with the claimed sign: {agree}/{len(rhos)}"
                        + (f" ({', '.join(f'{r:+.2f}' for r in rhos)})" if len(rhos) <= 6 else ""))
    return {"name": claim.name, "text": claim.text, "kind": claim.check.kind, "how": how, "unit": unit,
            "reference": reference, "direction": direction, "threshold": threshold, "level": LEVEL,
            "effect": pooled.mean, "lo": pooled.lo, "hi": pooled.hi, "n": pooled.n,
            "min_fraction": claim.min_fraction, "verdict": _combine(cells, claim.min_fraction),
            "cells": cells, "evidence": "; ".join(evidence)}


def render_claims(plan, spec, evaluate=evaluate_claim) -> list[str]:
    """Markdown lines: the table of a spec's claims with their verdicts, then how they were judged."""
    lines = ["| claim (the paper's statement) | setting | check | effect [interval] | n | verdict |",
             "|---|---|---|---|---|---|"]
    for c in spec.header.claims:
        v = evaluate(plan, spec, c)
        setting = ", ".join(f"{k} = {val}" for k, val in c.where.items()) or "every run"
        lines.append(f"| {md_cell(v['text'])} | {md_cell(setting)} | {md_cell(v['how'])} | {_fmt(v['effect'])} "
                     f"[{_fmt(v['lo'])}, {_fmt(v['hi'])}] | {v['n']} "
                     f"| **{v['verdict']}** ({md_cell(v['evidence'])}) |")
    lines += ["", f"Effects are in the metric's units (rank correlation for trends): the mean over cells, "
              f"with a {LEVEL:.0%} t interval over seeds. Each cell (runs differing only in seed) is judged "
              f"by its own {LEVEL:.0%} t interval over seeds against the claim's `min_effect` (default 0): "
              "holds if the whole interval lies beyond it, does not hold if none of it does, inconclusive "
              "otherwise (it contains the threshold, or there is one seed). A claim holds when at least "
              "`min_fraction` of its cells hold, does not hold when more than 1 − `min_fraction` do not, "
              "and is otherwise inconclusive (`engine/report/claims.py`)."]
    return lines
