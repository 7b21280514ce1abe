"""pretrain: DDPM epsilon-prediction training of the class-conditional UNet, with EMA.

Saves the EMA weights with diffusers' save_pretrained (safetensors) under unet/.
"""
from __future__ import annotations

import copy
import json
import time

import torch

from .. import progress
from ..models.unet import alphas_cumprod, build_unet
from ..models.unet_kind import UNetModel
from . import data as data_stage
from .common import setup_torch


def run(instance, out_dir, log) -> dict:
    cfg = UNetModel.model_validate(instance.config["model"])
    pre = cfg.pretrain
    setup_torch()
    torch.manual_seed(pre.seed)
    d = data_stage.load(instance.upstream_by_role()["data"])
    x_all, y_all = d["train_x"], d["train_y"]
    unet = build_unet(cfg, x_all.shape[-1])
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=pre.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / 100))
    ac = alphas_cumprod(pre).float()
    g = torch.Generator().manual_seed(pre.seed)
    t0, running = time.time(), None
    bar = progress.bar(pre.steps, "pretrain", unit="step")
    for step in range(1, pre.steps + 1):
        idx = torch.randint(0, len(x_all), (pre.batch_size,), generator=g)
        x0, y = x_all[idx], y_all[idx]
        t = torch.randint(0, pre.train_timesteps, (pre.batch_size,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        abar = ac[t].view(-1, 1, 1, 1)
        xt = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        loss = torch.nn.functional.mse_loss(unet(xt, t, class_labels=y).sample, noise)
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
