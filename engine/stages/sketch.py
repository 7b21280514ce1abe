"""sketch: A [m, d] with entries N(0, 1/m) (the identity when m = d: the full-dimension
baseline), the training latents y = A x, and their scale (the latent model sees y / scale)."""
from __future__ import annotations

import json

import torch
from safetensors.torch import load_file, save_file

from .. import registry, store
from ..sensing import signals
from ..sensing.sketch import gaussian_sketch


def data_config(data: dict):
    return registry.kind("data", data["kind"]).spec.model_validate(data)


def run(instance, out_dir, log) -> dict:
    cfg = instance.config
    sig = signals.load(data_config(cfg["data"]))
    m, d = cfg["latent_dim"], sig.dim
    A = torch.eye(d, dtype=torch.float64) if m == d else gaussian_sketch(m, d, torch.Generator().manual_seed(cfg["seed"]))
    y = sig.train @ A.T
    scale = float(y.std())
    save_file({"A": A.contiguous(), "train": y.float().contiguous(), "scale": torch.tensor(scale, dtype=torch.float64)},
              str(out_dir / "sketch.safetensors"))
    metrics = {"compression": m / d, "latent_dim": m, "data_dim": d, "latent_scale": scale}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    log(f"{cfg['data']['kind']}: d = {d}, m = {m}, {len(y)} training latents (scale {scale:.3g}), basis {sig.basis_name}")
    return metrics


def load(h: str) -> dict:
    """A (float64), train (float32 latents), scale (float) and the data config, files checked."""
    prov = store.verify_files("sketch", h)
    t = load_file(str(store.result_dir("sketch", h) / "sketch.safetensors"))
    return {"A": t["A"], "train": t["train"], "scale": float(t["scale"]), "data": prov["config"]["data"]}
