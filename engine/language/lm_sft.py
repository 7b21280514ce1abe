"""lm_sft: maximum likelihood on the response of one demonstration per SFT prompt."""
from __future__ import annotations

import json

import numpy as np
import torch

from .. import progress
from ..stages.common import setup_torch
from . import lm, task, tuning


def run(instance, out_dir, log) -> dict:
    setup_torch()
    sft = instance.config["sft"]
    pretrain = instance.upstream[0]
    model, tok, _ = tuning.load_model("lm_pretrain", pretrain)
    problems = tuning.pretrain_splits(pretrain)["sft"]
    rng = np.random.default_rng(sft["seed"])
    responses = [task.sft_answer(p, rng, sft["explain_prob"], sft["error_prob"], sft["max_pad"]) for p in problems]
    bar = progress.bar(sft["steps"], "lm_sft", unit="step")
    losses = lm.train_lm(model, tok, [p.prompt for p in problems], responses, sft["steps"], sft["batch_size"],
                         sft["lr"], torch.Generator().manual_seed(sft["seed"]), full_sequence=False, bar=bar)
    bar.close()
    lm.save(model, tok, out_dir / "model")
    tail = losses[-max(1, len(losses) // 10):]
    metrics = {"sft_loss": sum(tail) / len(tail)}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    log(f"SFT on {len(problems)} demonstrations: loss {metrics['sft_loss']:.3f}")
    return metrics
