"""finetune: policy optimization of one run, logging its training curve.

Writes the fine-tuned weights (policy.safetensors for the Gaussian family, unet/ for the
UNet, unet/lora.safetensors for Stable Diffusion), curve.json (E[r] under the ODE and the
training sampler every `curve.every` epochs; epoch 0 = pretrained) and metrics.json (the last
curve point and the last epoch's training statistics). Under torchrun (engine/distributed.py)
every process computes its share of the samples and gradients and process 0 logs and stores.
Runs checkpoint every `resources.checkpoint_every` epochs into the resume area
(engine/checkpoint.py; process 0 writes, every process restores) and resume from there after a kill.
"""
from __future__ import annotations

import json
import math

import torch

from .. import checkpoint, progress, registry
from ..algorithms.policy_gradient import make_optimizer
from ..models import family
from ..errors import NumericalFault
from ..evaluation import resolve_method, reward_gap_metrics
from .common import Log, build_policy_for, finetune_config, reward_for, sampler_stds, setup_torch

CURVE_SEED_OFFSET = 1_000_003


def run(instance, out_dir, log: Log) -> dict:
    upstream = instance.upstream_by_role()
    cfg = finetune_config(instance.config, upstream)
    setup_torch()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)     # the same on every torchrun rank (engine/distributed.py)
    policy = build_policy_for(cfg, upstream, gen)
    reward = reward_for(cfg, upstream, policy)
    train_stds, ode_stds = sampler_stds(cfg, policy)
    method = resolve_method("auto", policy, reward)
    curve_seed = CURVE_SEED_OFFSET + cfg.seed
    curve = []

    def point(epoch):
        m = reward_gap_metrics(policy, ode_stds, train_stds, reward, method, cfg.curve.samples, curve_seed)
        m["epoch"] = epoch
        m["improvement"] = m["reward_ode"] - (curve[0]["reward_ode"] if curve else m["reward_ode"])
        if hasattr(family(cfg), "curve_metrics"):          # the family's own (its `series` trait)
            m.update(family(cfg).curve_metrics(policy, cfg, ode_stds, train_stds))
        bad = [k for k, v in m.items() if not math.isfinite(v)]
        if bad:
            raise NumericalFault(f"non-finite {', '.join(bad)} in the training curve at epoch {epoch}")
        curve.append(m)
        log(f"epoch {epoch:4d}/{cfg.algorithm.epochs}  E[r] ode {m['reward_ode']:.4f}  "
            f"sde {m['reward_sde']:.4f}  gap {m['gap']:+.4f}")

    last = {}
    algorithm = registry.implementation(registry.kind("algorithm", cfg.algorithm.kind))
    # the algorithm's own optimizer when it trains more than the policy (ctrl-PPO's value net, attached to
    # the policy so the checkpoint holds it)
    opt = getattr(algorithm, "make_optimizer", make_optimizer)(policy, cfg.algorithm)
    every = instance.resources.checkpoint_every
    resume = checkpoint.Resume(instance, every, log)
    start, saved = resume.restore(policy, opt, gen) or (0, None)
    algo_state = {}                            # the algorithm's state across epochs (DDPO's advantage statistics)
    if saved:
        curve[:] = saved["curve"]
        last.update(saved["last"])
        algo_state.update(saved.get("algorithm", {}))
    else:
        point(0)

    bar = progress.bar(cfg.algorithm.epochs, "finetune", unit="epoch", initial=start)

    def on_epoch(epoch, stats):
        bar.update(1)
        last.update(stats, epoch=epoch)
        if epoch % cfg.curve.every == 0 or epoch == cfg.algorithm.epochs:
            point(epoch)
        resume.maybe_save(epoch, cfg.algorithm.epochs, policy, opt, gen,
                          {"curve": curve, "last": last, "algorithm": algo_state})

    algorithm.train(policy, train_stds, reward, cfg.algorithm, gen, on_epoch=on_epoch,
                    start_epoch=start, optimizer=opt, state=algo_state, seed=cfg.seed)
    bar.close()
    family(cfg).save_trained(policy, out_dir)
    (out_dir / "curve.json").write_text(json.dumps(curve, indent=1, allow_nan=False))
    metrics = {**{k: v for k, v in curve[-1].items() if k != "epoch"}, "train": last, "method": method}
    if hasattr(algorithm, "train_metrics"):          # the algorithm's own (its `train_metrics` trait)
        metrics.update(algorithm.train_metrics(algo_state))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False))
    return metrics
