"""csdm_evaluate: distances, times and the data kind's own statistics of one run's samples."""
from __future__ import annotations

import json

import torch

from .. import registry, store
from ..sensing import signals
from ..sensing.distances import sliced_w2
from ..sensing.grids import save_sample_grid
from . import latent_sample, sketch
from .common import setup_torch


def run(instance, out_dir, log) -> dict:
    setup_torch()
    cfg, up = instance.config, instance.upstream_by_role()
    full = {r: up.get(f"full_{r}", up[r]) for r in ("train", "sample")}     # m = d: the run is its own baseline
    data_cfg = sketch.data_config(cfg["data"])
    sig = signals.load(data_cfg)
    x, x_full = latent_sample.load(up["sample"]).double(), latent_sample.load(full["sample"]).double()
    n, P = len(sig.test), cfg["projections"]

    def swd(a):           # the same directions for every sample set
        return sliced_w2(a, sig.test, P, torch.Generator().manual_seed(cfg["seed"]))

    metrics = {"swd": swd(x), "swd_full": swd(x_full), "swd_real": swd(sig.train[:n])}
    metrics["swd_ratio"] = metrics["swd"] / metrics["swd_full"]
    own_s, full_s = (store.read_json("latent_sample", h, "metrics.json") for h in (up["sample"], full["sample"]))
    own_t, full_t = (store.read_json("latent_train", h, "metrics.json") for h in (up["train"], full["train"]))
    metrics.update(train_seconds=own_t["train_seconds"], train_seconds_full=full_t["train_seconds"],
                   inference_ms=own_s["sample_ms"] + own_s["recover_ms"],
                   inference_ms_full=full_s["sample_ms"] + full_s["recover_ms"])
    metrics["speedup"] = metrics["inference_ms_full"] / metrics["inference_ms"]
    metrics["train_speedup"] = metrics["train_seconds_full"] / metrics["train_seconds"]
    data_impl = registry.implementation(registry.kind("data", data_cfg.kind))
    if hasattr(data_impl, "sample_metrics"):
        metrics.update(data_impl.sample_metrics(data_cfg, sig, x, x_full))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, allow_nan=False))
    images = registry.kind("data", data_cfg.kind).traits.get("images")
    save_sample_grid({"held out": sig.test, "full dimension": x_full, "recovered": x},
                     images(data_cfg) if callable(images) else images, out_dir / "samples_generated.png")
    log(f"sliced W2 {metrics['swd']:.4f} (full dimension {metrics['swd_full']:.4f}, floor {metrics['swd_real']:.4f}); "
        f"inference speed-up {metrics['speedup']:.2f}x")
    return metrics
