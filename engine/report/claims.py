"""Verdicts on a paper's qualitative claims, computed from stored results."""
from __future__ import annotations

from .aggregate import curve, eval_metrics, group, mean_std, selected_runs


def _cells(plan, spec, runs, metric_names, exclude=()):
    keys = [a for a in spec.axes if a != "seed" and a not in exclude]
    groups = group(spec, runs, keys, "claim")
    out = {}
    for key, members in groups.items():
        ms = [eval_metrics(plan, r) for r in members]
        out[key] = {m: mean_std([float(x[m]) for x in ms])[0] for m in metric_names}
    return keys, out


def _spearman_sign(xs, ys) -> float:
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        for rank, i in enumerate(order):
            r[i] = float(rank)
        return r
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    return sum((a - mx) * (b - my) for a, b in zip(rx, ry))


def evaluate_claim(plan, spec, claim) -> dict:
    chk = claim.check
    runs = selected_runs(spec, claim.where)
    if chk.kind == "compare":
        _, cells = _cells(plan, spec, runs, [chk.left, chk.right])
        ok = 0
        for v in cells.values():
            left, right = (abs(v[chk.left]), abs(v[chk.right])) if chk.abs else (v[chk.left], v[chk.right])
            ok += (left < right) if chk.op == "<" else (left > right)
        total = len(cells)
        bar = "abs(·)" if chk.abs else ""
        how = f"{bar.replace('·', chk.left) or chk.left} {chk.op} {bar.replace('·', chk.right) or chk.right}, " \
              f"per cell (mean over seeds)"
        unit = "cells"
    elif chk.kind == "trend":
        keys, cells = _cells(plan, spec, runs, [chk.metric])
        i = keys.index(chk.axis) if chk.axis in keys else None
        groups: dict = {}
        for key, v in cells.items():
            rest = key[:i] + key[i + 1:] if i is not None else key
            x = key[i] if i is not None else 0
            groups.setdefault(rest, []).append((x, v[chk.metric]))
        ok = total = 0
        for pts in groups.values():
            if len({p[0] for p in pts}) < 2:
                continue
            total += 1
            s = _spearman_sign([p[0] for p in pts], [p[1] for p in pts])
            ok += (s > 0) if chk.direction == "increasing" else (s < 0)
        how = f"{chk.metric} {chk.direction} in {chk.axis} (rank correlation sign), per group of the other axes"
        unit = "groups"
    else:
        ok = total = 0
        for r in runs:
            ys = [abs(row[chk.metric]) for row in curve(plan, r)]
            total += 1
            ok += ys[-1] <= chk.ratio * max(ys)
        how = f"abs({chk.metric}) at the last epoch ≤ {chk.ratio} × its peak over training, per run"
        unit = "runs"
    frac = ok / total if total else 0.0
    verdict = "holds" if total and frac >= claim.min_fraction else ("partly" if frac >= 0.25 else "does not hold")
    return {"name": claim.name, "text": claim.text, "how": how, "ok": ok, "total": total, "unit": unit,
            "fraction": frac, "verdict": verdict}
