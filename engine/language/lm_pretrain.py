"""lm_pretrain: build the character tokenizer and a fresh Llama from the config, and train it by
maximum likelihood on the pretraining corpus (whole sequences)."""
from __future__ import annotations

import json

import torch

from .. import progress
from ..stages.common import setup_torch
from . import lm, task, tokenizer


def run(instance, out_dir, log) -> dict:
    setup_torch()
    cfg = instance.config
    data, pre = cfg["data"], cfg["pretrain"]
    tok = tokenizer.build(task.CHARS)
    model = lm.build(cfg["arch"], tok, pre["seed"])
    texts = task.pretrain_corpus(data["pretrain_texts"], data["lo"], data["hi"], data["seed"] + 1)
    prompts = [t[:t.index("=") + 1] for t in texts]
    responses = [t[t.index("=") + 1:] for t in texts]
    bar = progress.bar(pre["steps"], "lm_pretrain", unit="step")
    losses = lm.train_lm(model, tok, prompts, responses, pre["steps"], pre["batch_size"], pre["lr"],
                         torch.Generator().manual_seed(pre["seed"]), full_sequence=True, bar=bar)
    bar.close()
    lm.save(model, tok, out_dir / "model")
    tail = losses[-max(1, len(losses) // 10):]
    metrics = {"pretrain_loss": sum(tail) / len(tail), "params": sum(p.numel() for p in model.parameters())}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    log(f"pretrained {metrics['params']} parameters on {len(texts)} texts: loss {metrics['pretrain_loss']:.3f}")
    return metrics

