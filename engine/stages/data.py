"""data: scikit-learn's handwritten digits in [-1, 1] with a fixed train/held-out split."""
from __future__ import annotations

import json

import torch
from safetensors.torch import load_file, save_file

from .. import store


def run(instance, out_dir, log) -> dict:
    from sklearn.datasets import load_digits

    cfg = instance.config["data"]
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 8.0 - 1.0     # 0..16 -> [-1, 1]
    y = torch.tensor(digits.target, dtype=torch.int64)
    if cfg["size"] != 8:
        x = torch.nn.functional.interpolate(x, size=cfg["size"], mode="bilinear", align_corners=False)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg["split_seed"]))
    n_test = int(round(cfg["holdout_fraction"] * len(x)))
    test, train = perm[:n_test], perm[n_test:]
    save_file({"train_x": x[train].contiguous(), "train_y": y[train].contiguous(),
               "test_x": x[test].contiguous(), "test_y": y[test].contiguous()}, str(out_dir / "data.safetensors"))
    metrics = {"train": len(train), "test": len(test), "size": cfg["size"]}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    log(f"digits: {len(train)} train, {len(test)} held out, {cfg['size']}x{cfg['size']}")
    return metrics


def load(h: str) -> dict:
    """The tensors of a data result (train_x, train_y, test_x, test_y), after checking its files."""
    store.verify_files("data", h)
    return load_file(str(store.result_dir("data", h) / "data.safetensors"))
