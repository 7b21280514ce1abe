"""latent_train: the score MLP in R^m (engine/models/latent_mlp.py) on y / scale."""
from __future__ import annotations

import json
import time

import torch
from safetensors.torch import load_file, save_file

from .. import progress, store
from ..models.latent_mlp import ScoreMLP, train, warm_up
from ..models.latent_mlp_kind import LatentMLP
from . import sketch
from .common import setup_torch


def model_config(model: dict, m: int) -> LatentMLP:
    return LatentMLP.model_validate({**model, "latent_dim": m})


def run(instance, out_dir, log) -> dict:
    setup_torch()
    sk = sketch.load(instance.upstream[0])        # by position: a shared instance has another run's roles
    y = sk["train"] / sk["scale"]
    cfg = model_config(instance.config["model"], y.shape[1])
    warm_up()
    bar = progress.bar(cfg.train_steps, "latent_train", unit="step")
    t0 = time.perf_counter()
    net, losses = train(y, cfg, torch.Generator().manual_seed(instance.config["seed"]), log, bar=bar)
    seconds = time.perf_counter() - t0
    bar.close()
    save_file(net.state_dict(), str(out_dir / "net.safetensors"))
    tail = losses[-max(1, len(losses) // 10):]
    metrics = {"final_loss": sum(tail) / len(tail), "train_seconds": seconds,
               "params": sum(p.numel() for p in net.parameters())}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    return metrics


def load(h: str) -> tuple[ScoreMLP, LatentMLP]:
    """The trained network and its config, files checked."""
    prov = store.verify_files("latent_train", h)
    weights = load_file(str(store.result_dir("latent_train", h) / "net.safetensors"))
    m = weights["net.0.weight"].shape[1] - 1
    cfg = model_config(prov["config"]["model"], m)
    net = ScoreMLP(m, cfg.hidden, cfg.layers)
    net.load_state_dict(weights)
    return net.eval(), cfg
