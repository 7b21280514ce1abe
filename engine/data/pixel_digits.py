"""The 8x8 digits in [0, 1] as 64-vectors, with their labels (for the judge)."""
from __future__ import annotations

import functools

import torch

from ..sensing.signals import Signals


def _all():
    from sklearn.datasets import load_digits
    d = load_digits()
    return torch.tensor(d.data, dtype=torch.float64) / 16.0, torch.tensor(d.target)


def split(cfg):
    """(x, y) of train, val and test."""
    x, y = _all()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.split_seed))
    test, val, train = perm[:cfg.n_test], perm[cfg.n_test:cfg.n_test + cfg.n_val], perm[cfg.n_test + cfg.n_val:]
    return (x[train], y[train]), (x[val], y[val]), (x[test], y[test])


def generate(cfg) -> Signals:
    (tr, _), (va, _), (te, _) = split(cfg)
    return Signals(tr, va, te, None, (0.0, 1.0), 1.0, "pixel")


@functools.lru_cache(maxsize=2)
def _judge(key: str):
    """A multinomial logistic regression on the training digits (deterministic lbfgs), once per
    process and split (`key`: the data config's JSON)."""
    from sklearn.linear_model import LogisticRegression
    from .pixel_digits_kind import PixelDigits
    (tr, ytr), _, _ = split(PixelDigits.model_validate_json(key))
    return LogisticRegression(max_iter=2000, C=1.0).fit(tr.numpy(), ytr.numpy())


def sample_metrics(cfg, sig: Signals, x: torch.Tensor, x_full: torch.Tensor) -> dict:
    """The judge's mean top-class probability: how digit-like samples look (the samples are
    unconditional, so there is no label to be accurate against), with held-out digits for scale."""
    judge = _judge(cfg.model_dump_json())

    def confidence(v):
        return float(judge.predict_proba(v.clamp(0, 1).numpy()).max(1).mean())

    return {"judge_confidence": confidence(x), "judge_confidence_full": confidence(x_full),
            "judge_confidence_real": confidence(sig.test)}
