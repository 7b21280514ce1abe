"""Cost of one RL epoch on the digits UNet against the pure model compute, measured in one run.

- DDPO: one epoch of engine.algorithms.ddpo.train vs the same model work timed in isolation
  (the sampling forwards of the chain plus the trained forward+backward passes, same shapes).
- MixGRPO: time per epoch relative to DDPO at the same number of chains, per window size.
- Time to reach DDPO's final reward: from the default-scale training curves in results/ (run
  `make reproduce` first; skipped when they are missing): the first curve point where MixGRPO's
  ODE reward reaches DDPO's final one, times the measured time per epoch.
Model, sampler and algorithm settings are those of the default digits specs; the weights are
random here (the cost does not depend on them). Prints ratios; figures go to README.md, "Benchmarks".
"""
from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.algorithms import ddpo, mixgrpo                       # noqa: E402
from engine.models.unet import UNetPolicy, build_unet               # noqa: E402
from engine.plan import build_plan, result_dir                      # noqa: E402
from engine.samplers.gddim import gddim_stds                        # noqa: E402


def timed(fn, repeat=3) -> float:
    fn()                                                            # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def spec_runs(plan, name):
    return next(s for s in plan.specs if s.name == name).runs


def main() -> None:
    os.chdir(ROOT)                                                  # results/ and specs/ are relative
    torch.set_num_threads(2)
    torch.manual_seed(0)
    plan = build_plan("default")
    cfg = spec_runs(plan, "digits_ddpo_lambda")[0].config
    mix_cfg = spec_runs(plan, "digits_mixgrpo_lambda")[0].config.algorithm
    steps, alg = cfg.sampler.steps, cfg.algorithm.model_copy(update={"epochs": 1})
    policy = UNetPolicy(build_unet(cfg.model, cfg.data.size), cfg.model.pretrain, steps, cfg.data.size)
    stds = gddim_stds(policy.a, policy.s, 1.0)
    reward = lambda x, p: -x.flatten(1).pow(2).mean(1)              # noqa: E731  (cost-free reward)
    g = torch.Generator().manual_seed(0)
    t_epoch = timed(lambda: ddpo.train(policy, stds, reward, alg, g))

    batch, n_mb = alg.batch_size, alg.minibatches
    n_train = math.ceil(alg.timestep_fraction * int((stds > 0).sum()))
    x = torch.randn(batch, 1, cfg.data.size, cfg.data.size)
    labels = torch.arange(batch) % 10
    opt = torch.optim.Adam(policy.unet.parameters(), 1e-5)

    def pure():
        with torch.no_grad():
            for k in range(steps - 1, -1, -1):
                policy.eps(x, k, labels)
        m = batch // n_mb
        for _ in range(n_mb):                                       # the trained passes, same shapes
            xs = torch.randn(n_train, m, 1, cfg.data.size, cfg.data.size)
            out = policy.eps(xs, torch.arange(n_train), labels[:m])
            opt.zero_grad()
            out.square().mean().backward()
            opt.step()
    t_pure = timed(pure)
    print(f"DDPO epoch (batch {batch}, T={steps}, {n_train} trained steps, {n_mb} minibatches): {t_epoch:.3f}s; "
          f"pure model compute {t_pure:.3f}s; ratio {t_epoch / t_pure:.2f} (goal <= 1.25)")

    t_mix = {}
    for window in sorted({2, mix_cfg.window_size, 6}):
        mcfg = mix_cfg.model_copy(update={"epochs": 1, "window_size": window})
        t_mix[window] = timed(lambda: mixgrpo.train(policy, stds, reward, mcfg, g))
        print(f"MixGRPO epoch ({mcfg.prompts_per_epoch} prompts x {mcfg.group_size}), window {window}: "
              f"{t_mix[window]:.3f}s = {t_mix[window] / t_epoch:.2f} x DDPO's epoch")
    time_to_reach(plan, t_epoch, t_mix[mix_cfg.window_size], mix_cfg.window_size)


def time_to_reach(plan, t_ddpo: float, t_mix: float, window: int) -> None:
    """From the default results: MixGRPO's time to reach DDPO's final ODE reward, per (lambda, seed)."""
    def curves(name):
        out = {}
        for r in spec_runs(plan, name):
            f = result_dir("finetune", plan.run_hash(r, "finetune")) / "curve.json"
            if f.is_file():
                out[(r.config.sampler.stochasticity, r.config.seed)] = json.loads(f.read_text())
        return out
    dd, mx = curves("digits_ddpo_lambda"), curves("digits_mixgrpo_lambda")
    if not dd or not mx:
        print("time to reach DDPO's final reward: no default-scale curves in results/ (run `make reproduce`)")
        return
    for key in sorted(set(dd) & set(mx)):
        target, epochs = dd[key][-1]["reward_ode"], dd[key][-1]["epoch"]
        hit = next((p["epoch"] for p in mx[key] if p["reward_ode"] >= target), None)
        if hit is None:
            where = "never reaches it"
        elif hit == 0:
            where = "starts above it (DDPO ended below the pretrained model)"
        else:
            where = (f"reaches it at epoch {hit}: {hit * t_mix:.1f}s vs DDPO's {epochs * t_ddpo:.1f}s "
                     f"({hit * t_mix / (epochs * t_ddpo):.2f}x)")
        print(f"lambda {key[0]:g} seed {key[1]}: DDPO's final ODE reward {target:.3f} after {epochs} epochs; "
              f"MixGRPO (window {window}, curve every {mx[key][1]['epoch'] - mx[key][0]['epoch']} epochs) {where}")


if __name__ == "__main__":
    main()
