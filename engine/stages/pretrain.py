"""pretrain: training of an image family's class-conditional UNet on its data, with EMA.

The loss is the model family's (`pretrain_loss` of its implementation module): DDPM epsilon
prediction for `unet`, rectified-flow velocity prediction for `flow_unet`. Saves the EMA
weights with diffusers' save_pretrained (safetensors) under unet/.
"""
from __future__ import annotations

import copy
import json
import time

import torch

from .. import progress, registry
from ..models.unet import build_unet
from . import data as data_stage
from .common import setup_torch


def run(instance, out_dir, log) -> dict:
    model = registry.kind("model", instance.config["model"]["kind"])
    cfg = model.spec.model_validate(instance.config["model"])
    pre = cfg.pretrain
    pretrain_loss = registry.implementation(model).pretrain_loss(pre)
    setup_torch()
    torch.manual_seed(pre.seed)
    d = data_stage.load(instance.upstream_by_role()["data"])
    x_all, y_all = d["train_x"], d["train_y"]
    unet = build_unet(cfg, x_all.shape[-1])
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=pre.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / 100))
    g = torch.Generator().manual_seed(pre.seed)
    t0, running = time.time(), None
    bar = progress.bar(pre.steps, "pretrain", unit="step")
    for step in range(1, pre.steps + 1):
        idx = torch.randint(0, len(x_all), (pre.batch_size,), generator=g)
        x0, y = x_all[idx], y_all[idx]
        loss = pretrain_loss(unet, x0, y, g)
        if not torch.isfinite(loss):
            from ..errors import NumericalFault
            raise NumericalFault(f"non-finite pretraining loss at step {step}")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            decay = min(pre.ema_decay, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), unet.parameters()):
                pe.lerp_(p, 1 - decay)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        if step % max(1, pre.steps // 10) == 0:
            log(f"step {step}/{pre.steps} loss {running:.4f} ({step / (time.time() - t0):.1f} steps/s)")
    bar.close()
    ema.save_pretrained(str(out_dir / "unet"), safe_serialization=True)
    metrics = {"final_loss": running, "steps": pre.steps, "params": sum(p.numel() for p in unet.parameters()),
               "seconds": round(time.time() - t0, 1)}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    return metrics
