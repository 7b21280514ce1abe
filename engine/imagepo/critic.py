"""RPO's critic for digits: a structured critique of each image (arXiv 2503.11720, in miniature).

The critic is a third classifier, trained in its own stage and distinct from the reward model and
from the evaluation judge (so pairs built from it cannot simply hack the reward or the judge), plus
image statistics of the prompted class measured on the training split. Its findings:

    class      the critic's most likely class k is not the prompt c: "resembles k, not c"
               (or "looks like nothing, not c" when p(c | x) < 0.05 and no class reaches 0.5)
    faint      ink (mean of (x + 1) / 2) below the class's `faint_quantile` of training images: "too faint"
    broken     more 8-connected strokes (pixels > 0) than the class's 90th percentile: "broken stroke"
    off-centre the ink-weighted centroid is >= 1 pixel (rounded) from the class's mean centroid:
               "off-centre by (dx, dy)" (columns, rows)

Its score of an image is log p_critic(c | x) minus one nat per faint / broken / off-centre finding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

EIGHT = np.ones((3, 3), dtype=int)


def ink(x: torch.Tensor) -> torch.Tensor:
    """[n]: the mean ink of images [n, 1, h, w] in [-1, 1]."""
    return ((x.float().clamp(-1, 1) + 1) / 2).flatten(1).mean(1)


def strokes(x: torch.Tensor) -> np.ndarray:
    """[n]: the number of 8-connected components of the pixels > 0."""
    return np.array([ndimage.label(img[0].numpy() > 0, structure=EIGHT)[1] for img in x.float()])


def centroids(x: torch.Tensor) -> torch.Tensor:
    """[n, 2]: the ink-weighted centroid (column, row) of each image."""
    w = (x.float().clamp(-1, 1) + 1)[:, 0] / 2
    h, wd = w.shape[1:]
    rows = torch.arange(h, dtype=w.dtype).view(1, h, 1)
    cols = torch.arange(wd, dtype=w.dtype).view(1, 1, wd)
    total = w.sum((1, 2)).clamp_min(1e-6)
    return torch.stack([(w * cols).sum((1, 2)) / total, (w * rows).sum((1, 2)) / total], 1)


@dataclass
class ClassStats:
    faint: torch.Tensor        # [10] ink threshold
    strokes: torch.Tensor      # [10] stroke-count threshold
    centre: torch.Tensor       # [10, 2] mean centroid

    @classmethod
    def measure(cls, x: torch.Tensor, y: torch.Tensor, faint_quantile: float, classes: int = 10) -> "ClassStats":
        i, s, c = ink(x), torch.tensor(strokes(x), dtype=torch.float32), centroids(x)
        return cls(torch.stack([i[y == k].quantile(faint_quantile) for k in range(classes)]),
                   torch.stack([s[y == k].quantile(0.9) for k in range(classes)]),
                   torch.stack([c[y == k].mean(0) for k in range(classes)]))


class Critic:
    def __init__(self, net: torch.nn.Module, stats: ClassStats):
        self.net, self.stats = net, stats

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net(x.float().clamp(-1, 1)), 1)

    def findings(self, x: torch.Tensor, prompts: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per image: the critic's class probabilities and which defects it finds."""
        with torch.no_grad():
            p = self.log_probs(x).exp()
        offset = (centroids(x) - self.stats.centre[prompts]).round()
        return {"p": p, "faint": ink(x) < self.stats.faint[prompts],
                "broken": torch.tensor(strokes(x), dtype=torch.float32) > self.stats.strokes[prompts],
                "offset": offset, "offcentre": offset.abs().amax(1) >= 1}

    def score(self, x: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        f = self.findings(x, prompts)
        defects = f["faint"].float() + f["broken"].float() + f["offcentre"].float()
        return f["p"].gather(1, prompts.view(-1, 1))[:, 0].clamp_min(1e-12).log() - defects

    def critique(self, x: torch.Tensor, prompts: torch.Tensor) -> list[str]:
        """One critique string per image (the findings joined by "; "; empty when it finds nothing)."""
        f = self.findings(x, prompts)
        out = []
        for i, c in enumerate(prompts.tolist()):
            parts = []
            p = f["p"][i]
            k = int(p.argmax())
            if p[c] < 0.05 and p.max() < 0.5:
                parts.append(f"looks like nothing, not {c}")
            elif k != c:
                parts.append(f"resembles {k}, not {c}")
            if f["faint"][i]:
                parts.append("too faint")
            if f["broken"][i]:
                parts.append("broken stroke")
            if f["offcentre"][i]:
                dx, dy = (int(v) for v in f["offset"][i].tolist())
                parts.append(f"off-centre by ({dx}, {dy})")
            out.append("; ".join(parts))
        return out
