"""Cost of one RL epoch on the digits UNet against the pure model compute, measured in one run.

- DDPO: one epoch of engine.algorithms.ddpo.train vs the same model work timed in isolation
  (the sampling forwards of the chain plus the trained forward+backward passes).
- MixGRPO: time per epoch relative to DDPO at the same batch, with its window size.
Uses the default digits spec's model/sampler/algorithm settings with random weights (the
cost does not depend on the weights). Prints ratios; figures go to bench/README.md.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.algorithms import ddpo, mixgrpo                       # noqa: E402
from engine.models.unet import UNetPolicy, build_unet               # noqa: E402
from engine.samplers.gddim import gddim_stds                        # noqa: E402
from engine.spec.models import DDPOAlgorithm, MixGRPOAlgorithm, Pretrain, UNetModel   # noqa: E402


def timed(fn, repeat=3) -> float:
    fn()                                                            # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    steps, batch, frac = 10, 32, 0.5
    policy = UNetPolicy(build_unet(UNetModel(kind="unet"), 8), Pretrain(), steps, 8)
    stds = gddim_stds(policy.a, policy.s, 1.0)
    reward = lambda x, p: -x.flatten(1).pow(2).mean(1)              # noqa: E731  (cost-free reward)
    cfg = DDPOAlgorithm(kind="ddpo", epochs=1, batch_size=batch, minibatches=2, timestep_fraction=frac, lr=1e-5)
    g = torch.Generator().manual_seed(0)
    t_epoch = timed(lambda: ddpo.train(policy, stds, reward, cfg, g))

    n_train = int(frac * (steps - 1) + 0.999)
    x = torch.randn(batch, 1, 8, 8)
    labels = torch.arange(batch) % 10
    opt = torch.optim.Adam(policy.unet.parameters(), 1e-5)

    def pure():
        with torch.no_grad():
            for k in range(steps - 1, -1, -1):
                policy.eps(x, k, labels)
        for mb in range(2):                                         # the trained passes, same shapes
            xs = torch.randn(n_train, batch // 2, 1, 8, 8)
            out = policy.eps(xs, torch.arange(n_train), labels[: batch // 2])
            opt.zero_grad()
            out.square().mean().backward()
            opt.step()
    t_pure = timed(pure)
    print(f"DDPO epoch (batch {batch}, T={steps}, {n_train} trained steps): {t_epoch:.3f}s; "
          f"pure model compute {t_pure:.3f}s; ratio {t_epoch / t_pure:.2f} (goal <= 1.25)")

    for window in (2, 4):
        mcfg = MixGRPOAlgorithm(kind="mixgrpo", epochs=1, prompts_per_epoch=batch // 8, group_size=8,
                                window_size=window, lr=1e-5)
        t_mix = timed(lambda: mixgrpo.train(policy, stds, reward, mcfg, g))
        print(f"MixGRPO epoch, window {window}: {t_mix:.3f}s = {t_mix / t_epoch:.2f} x DDPO's epoch")


if __name__ == "__main__":
    main()
