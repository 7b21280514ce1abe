"""Sample grids of signals: one row per sample set (held out, full-dimension, recovered), as
images when the data are images and as small line plots otherwise."""
from __future__ import annotations

from pathlib import Path

import torch


def save_sample_grid(rows: dict[str, torch.Tensor], image_shape: tuple | None, path: Path, per_row: int = 8) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), per_row, figsize=(per_row * 1.1, len(rows) * 1.25), squeeze=False)
    lo = min(float(x[:per_row].min()) for x in rows.values())
    hi = max(float(x[:per_row].max()) for x in rows.values())
    for i, (label, x) in enumerate(rows.items()):
        for j in range(per_row):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            v = x[j].float()
            if image_shape:
                ax.imshow(v.reshape(image_shape).clamp(0, 1).numpy(), cmap="gray_r", vmin=0, vmax=1)
            else:
                ax.plot(v.numpy(), lw=0.5)
                ax.set_ylim(lo, hi)
        axes[i][0].set_ylabel(label, fontsize=7)
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=100)
    plt.close(fig)
