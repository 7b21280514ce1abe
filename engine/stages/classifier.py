"""classifier: a digit classifier trained on the data split (reward model or judge)."""
from __future__ import annotations

import json

import torch
from safetensors.torch import save_file

from .. import progress
from ..models.classifiers import build_classifier
from ..rewards.classifier_kind import Classifier
from . import data as data_stage
from .common import setup_torch


def run(instance, out_dir, log) -> dict:
    cfg = Classifier.model_validate(instance.config["classifier"])
    setup_torch()
    d = data_stage.load(instance.upstream_by_role()["data"])
    size = d["train_x"].shape[-1]
    net = build_classifier(cfg, size)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    n = len(d["train_x"])
    bar = progress.bar(cfg.steps, "classifier", unit="step")
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, n, (cfg.batch_size,), generator=g)
        x = d["train_x"][idx] + 0.05 * torch.randn(cfg.batch_size, *d["train_x"].shape[1:], generator=g)
        loss = torch.nn.functional.cross_entropy(net(x), d["train_y"][idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.update(1)
        if step % max(1, cfg.steps // 5) == 0:
            log(f"step {step}/{cfg.steps} loss {loss.item():.4f}")
    bar.close()
    net.eval()
    with torch.no_grad():
        acc = (net(d["test_x"]).argmax(1) == d["test_y"]).float().mean().item()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out_dir / "classifier.safetensors"))
    metrics = {"heldout_accuracy": acc, "arch": cfg.arch}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    log(f"{cfg.arch}: held-out accuracy {acc:.4f}")
    return metrics
