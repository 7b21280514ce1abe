"""Render a figure output: y against x (a run field, or a series against its own x such as
`epoch`), one line per hue value, one panel per panel value, mean ± std band over seeds;
`plot: step` draws staircases, `plot: heatmap` a metric over two run fields."""
from __future__ import annotations

import io

from .aggregate import fmt_value, group, mean_std, selected_runs
from .aggregate import metrics as run_metrics
from .aggregate import series as run_series
from ..levels import LEGEND, Levels, weakest
from ..stamps import mark
from .escape import mpl


def series(plan, target) -> dict:
    """{panel: {hue: [(x, mean, std, n)]}} plus the run hashes used; a heatmap:
    {"cells": {(x, y): (mean, std, n)}}."""
    from ..plan import output_roles
    spec, f = target.spec, target.cfg
    runs = selected_runs(spec, f.where)
    along_series = f.plot != "heatmap" and all(f.y in r.series and r.series[f.y][1].x == f.x for r in runs)
    axes = [f.x, f.y] if f.plot == "heatmap" else ([] if along_series else [f.x])
    keys = [k for k in (f.panel, f.hue) if k] + axes
    groups = group(spec, runs, keys, f"figure '{f.name}'")
    roles = sorted({role for r in runs for role in output_roles(r, f)})
    used = {plan.run_hash(r, role) for r in runs for role in roles}
    out: dict = {}
    for key, members in groups.items():
        key = list(key)
        panel = key.pop(0) if f.panel else None
        hue = key.pop(0) if f.hue else None
        if f.plot == "heatmap":
            vals = [float(run_metrics(plan, r, [f.value])[f.value]) for r in members]
            out.setdefault(panel, {}).setdefault(hue, []).append((tuple(key), *mean_std(vals), len(vals)))
            continue
        pts: dict[float, list[float]] = {}
        for r in members:
            if along_series:
                for x, y in zip(*run_series(plan, r, f.y)):
                    pts.setdefault(x, []).append(y)
            else:
                pts.setdefault(r.field(f.x), []).append(run_metrics(plan, r, [f.y])[f.y])
        line = out.setdefault(panel, {}).setdefault(hue, [])
        for x, vals in pts.items():
            line.append((x, *mean_std(vals), len(vals)))
        line.sort()
    found = Levels()
    timing = any(r.metrics[m][1].determinism == "none" for r in runs for m in (f.y, f.value) if m in r.metrics)
    level = "n" if timing else weakest(found.of(plan.instances[h].stage, h)[0] for h in used)
    return {"panels": out, "runs": sorted(used), "stage": "/".join(roles), "level": level}


def _heatmap(ax, fig, f, cells) -> None:
    xs = sorted({c[0][0] for c in cells}, key=_order)
    ys = sorted({c[0][1] for c in cells}, key=_order)
    grid = [[float("nan")] * len(xs) for _ in ys]
    for (x, y), mu, _sd, _n in cells:
        grid[ys.index(y)][xs.index(x)] = mu
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)), [fmt_value(x) for x in xs], fontsize=7)
    ax.set_yticks(range(len(ys)), [fmt_value(y) for y in ys], fontsize=7)
    ax.set_ylabel(f.y.rsplit(".", 1)[-1])
    fig.colorbar(im, ax=ax, label=f.value)


def _order(v):
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


def render(plan, target, data) -> tuple[bytes, bytes]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = target.cfg
    panels = data["panels"]
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 0.6, 3.6), squeeze=False, sharey=True)
    for ax, (panel, lines) in zip(axes[0], panels.items()):
        if f.plot == "heatmap":
            _heatmap(ax, fig, f, [c for pts in lines.values() for c in pts])
        for hue, pts in ([] if f.plot == "heatmap" else lines.items()):
            xs = [p[0] for p in pts]
            mu = [p[1] for p in pts]
            sd = [p[2] for p in pts]
            label = mpl(f"{f.hue.rsplit('.', 1)[-1]} = {fmt_value(hue)}") if f.hue else None
            if not all(isinstance(x, (int, float)) for x in xs):      # categories (variants): points with bars
                ax.errorbar([str(x) for x in xs], mu, yerr=sd, fmt="o", ms=4, capsize=3, label=label)
                plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor", fontsize=7)
                continue
            style = {"drawstyle": "steps-post"} if f.plot == "step" else {"marker": "o" if len(xs) < 15 else None}
            (ln,) = ax.plot(xs, mu, ms=3, label=label, **style)
            ax.fill_between(xs, [m - s for m, s in zip(mu, sd)], [m + s for m, s in zip(mu, sd)],
                            color=ln.get_color(), alpha=0.2, lw=0, step="post" if f.plot == "step" else None)
        if f.plot != "heatmap":
            if f.yscale == "log":
                ax.set_yscale("log")
            else:
                ax.axhline(0.0, color="0.6", lw=0.6, ls=":")
            if f.xscale == "log":
                ax.set_xscale("log")
        ax.set_xlabel(f.x.rsplit(".", 1)[-1])
        if f.panel:
            ax.set_title(mpl(f"{f.panel.rsplit('.', 1)[-1]} = {fmt_value(panel)}"), fontsize=10)
        if f.hue and f.plot != "heatmap":
            ax.legend(fontsize=7)
    if f.plot != "heatmap":
        axes[0][0].set_ylabel(f.y)
    title = f.caption or f.name
    fig.suptitle(mpl(title), fontsize=10)
    fig.text(0.01, 0.005, f"{target.spec.doc.file} · scale {plan.scale} · {len(data['runs'])} {data['stage']} runs "
             f"· mean ± std over seeds · verification {data['level']} ({LEGEND.get(data['level'], '')}) · key {target.key}",
             fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    png, pdf = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=110, metadata={"Software": None, "Comment": mark(target.key)})
    fig.savefig(pdf, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
    return png.getvalue(), pdf.getvalue()
