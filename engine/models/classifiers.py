"""Small digit classifiers: the reward model (`cnn` by default) and the judge (`mlp`).

The judge is a different architecture and seed than the reward model, so an image that
fools the reward (reward hacking) need not fool the judge.
"""
from __future__ import annotations

import torch
from safetensors.torch import load_file
from torch import nn


class CNN(nn.Module):
    def __init__(self, size: int, width: int, classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.SiLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(8 * width, 4 * width), nn.SiLU())
        self.head = nn.Linear(4 * width, classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


class MLP(nn.Module):
    def __init__(self, size: int, width: int, classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(size * size, width), nn.ReLU(),
                                  nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


def build_classifier(cfg, size: int) -> nn.Module:
    torch.manual_seed(cfg.seed)
    return {"cnn": CNN, "mlp": MLP}[cfg.arch](size, cfg.width)


def load_stored(h: str) -> torch.nn.Module:
    """A trained classifier from the store (eval mode, frozen)."""
    from .. import store
    from ..rewards.classifier_kind import Classifier
    prov = store.verify_files("classifier", h)
    cfg = Classifier.model_validate(prov["config"]["classifier"])
    d = store.result_dir("classifier", h)
    state = load_file(str(d / "classifier.safetensors"))
    size = int(round((state["body.1.weight"].shape[1]) ** 0.5)) if cfg.arch == "mlp" else 8
    net = build_classifier(cfg, size)
    net.load_state_dict(state)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
