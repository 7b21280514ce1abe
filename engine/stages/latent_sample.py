"""latent_sample: latents from the score MLP, recovered to R^d by FISTA in the data's basis."""
from __future__ import annotations

import json
import statistics
import time

import torch
from safetensors.torch import load_file, save_file

from .. import progress, registry, store
from ..models.latent_mlp import sample, warm_up
from ..sensing import signals
from ..sensing.distances import mse_psnr
from ..sensing.fista import fista, power_iteration
from . import latent_train, sketch
from .common import setup_torch


class Decoder:
    """y [n, m] -> x [n, d]: FISTA on M = A Psi (float32), or the identity when A is (m = d)."""

    def __init__(self, A: torch.Tensor, sig: signals.Signals, recovery, seed: int):
        self.identity = A.shape[0] == A.shape[1] and torch.equal(A, torch.eye(A.shape[0], dtype=A.dtype))
        self.psi = sig.basis.float() if sig.basis is not None else None
        M = A @ sig.basis if sig.basis is not None else A
        self.M, self.box, self.iters, self.lam = M.float(), sig.box, recovery.iterations, 0.0
        if not self.identity:
            self.L = power_iteration(M, recovery.power_iterations, torch.Generator().manual_seed(seed))

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return y.float()
        c = fista(self.M, y.float(), self.lam, self.iters, self.L, self.box)
        return c @ self.psi.T if self.psi is not None else c

    def choose(self, lambdas, x_val: torch.Tensor, A: torch.Tensor, log) -> None:
        """The weight with the least validation MSE (first of ties)."""
        if self.identity:
            return
        y_val, target, scores = x_val @ A.T, x_val.float(), []
        for lam in lambdas:
            self.lam = lam
            scores.append(float(((self(y_val) - target) ** 2).mean()))
        self.lam = lambdas[min(range(len(scores)), key=scores.__getitem__)]
        log("validation MSE by LASSO weight: " + ", ".join(f"{l:g}: {s:.4g}" for l, s in zip(lambdas, scores))
            + f" -> {self.lam:g}")


def run(instance, out_dir, log) -> dict:
    setup_torch()
    cfg, (h_sketch, h_train) = instance.config, instance.upstream    # by position (see latent_train)
    sk = sketch.load(h_sketch)
    net, model = latent_train.load(h_train)
    sampler = registry.kind("sampler", cfg["sampler"]["kind"]).spec.model_validate(cfg["sampler"])
    recovery = type(model.recovery).model_validate(cfg["recovery"])
    sig = signals.load(sketch.data_config(sk["data"]))
    A, m = sk["A"], sk["A"].shape[0]
    dec = Decoder(A, sig, recovery, cfg["seed"])
    dec.choose(recovery.lambdas, sig.val, A, log)
    mse, psnr = mse_psnr(dec(sig.test @ A.T), sig.test, sig.peak)
    metrics = {"lasso_weight": dec.lam, "decoder_mse": float(mse.mean()), "decoder_mse_p95": float(mse.quantile(0.95)),
               "decoder_psnr": float(psnr.mean()), "decoder_psnr_p5": float(psnr.quantile(0.05))}
    warm_up()
    g = torch.Generator().manual_seed(cfg["seed"])
    xs, t_sample, t_recover = [], [], []
    bar = progress.bar(cfg["samples"], "latent_sample", unit="sample")
    for start in range(0, cfg["samples"], cfg["chunk"]):
        k = min(cfg["chunk"], cfg["samples"] - start)
        t0 = time.perf_counter()
        y = sample(net, model.process, sampler, k, m, g) * sk["scale"]
        t1 = time.perf_counter()
        xs.append(dec(y))
        t2 = time.perf_counter()
        t_sample.append((t1 - t0) * 1000 / k)
        t_recover.append((t2 - t1) * 1000 / k)
        bar.update(k)
    bar.close()
    x = torch.cat(xs)
    if not torch.isfinite(x).all():
        from ..errors import NumericalFault
        raise NumericalFault("non-finite generated samples")
    save_file({"x": x.contiguous()}, str(out_dir / "samples.safetensors"))
    metrics.update(sample_ms=statistics.median(t_sample), recover_ms=statistics.median(t_recover))
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    log(f"m = {m}: {len(x)} samples, {metrics['sample_ms']:.3f} + {metrics['recover_ms']:.3f} ms per sample; "
        f"decoder MSE {metrics['decoder_mse']:.4g}")
    return metrics


def load(h: str) -> torch.Tensor:
    store.verify_files("latent_sample", h)
    return load_file(str(store.result_dir("latent_sample", h) / "samples.safetensors"))["x"]
