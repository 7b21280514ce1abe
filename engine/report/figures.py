"""Render a figure output: y against x (an axis, or `epoch` for training curves),
one line per hue value, one panel per panel value, mean ± std band over seeds."""
from __future__ import annotations

import io

from .aggregate import curve, eval_metrics, fmt_value, group, mean_std, selected_runs
from .escape import mpl


def series(plan, target) -> dict:
    """{panel: {hue: [(x, mean, std, n)]}} plus the run hashes used."""
    spec, f = target.spec, target.cfg
    runs = selected_runs(spec, f.where)
    keys = [k for k in (f.panel, f.hue) if k] + ([] if f.x == "epoch" else [f.x])
    groups = group(spec, runs, keys, f"figure '{f.name}'")
    stage = "finetune" if f.x == "epoch" else "evaluate"
    out: dict = {}
    used = set()
    for key, members in groups.items():
        key = list(key)
        panel = key.pop(0) if f.panel else None
        hue = key.pop(0) if f.hue else None
        pts: dict[float, list[float]] = {}
        for r in members:
            used.add(plan.run_hash(r, stage))
            if f.x == "epoch":
                for row in curve(plan, r):
                    pts.setdefault(row["epoch"], []).append(row[f.y])
            else:
                pts.setdefault(r.field(f.x), []).append(eval_metrics(plan, r)[f.y])
        line = out.setdefault(panel, {}).setdefault(hue, [])
        for x, vals in pts.items():
            line.append((x, *mean_std(vals), len(vals)))
        line.sort()
    return {"panels": out, "runs": sorted(used), "stage": stage}


def render(plan, target, data) -> tuple[bytes, bytes]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = target.cfg
    panels = data["panels"]
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 0.6, 3.6), squeeze=False, sharey=True)
    for ax, (panel, lines) in zip(axes[0], panels.items()):
        for hue, pts in lines.items():
            xs = [p[0] for p in pts]
            mu = [p[1] for p in pts]
            sd = [p[2] for p in pts]
            label = mpl(f"{f.hue.rsplit('.', 1)[-1]} = {fmt_value(hue)}") if f.hue else None
            (ln,) = ax.plot(xs, mu, marker="o" if len(xs) < 15 else None, ms=3, label=label)
            ax.fill_between(xs, [m - s for m, s in zip(mu, sd)], [m + s for m, s in zip(mu, sd)],
                            color=ln.get_color(), alpha=0.2, lw=0)
        ax.axhline(0.0, color="0.6", lw=0.6, ls=":")
        ax.set_xlabel(f.x.rsplit(".", 1)[-1])
        if f.panel:
            ax.set_title(mpl(f"{f.panel.rsplit('.', 1)[-1]} = {fmt_value(panel)}"), fontsize=10)
        if f.hue:
            ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f.y)
    title = f.caption or f.name
    fig.suptitle(mpl(title), fontsize=10)
    fig.text(0.01, 0.005, f"{target.spec.doc.file} · scale {plan.scale} · {len(data['runs'])} {data['stage']} runs "
             f"· mean ± std over seeds · key {target.key}", fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    png, pdf = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=110, metadata={"Software": None})
    fig.savefig(pdf, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
    return png.getvalue(), pdf.getvalue()
