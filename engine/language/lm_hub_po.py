"""lm_hub_po: tune a pretrained hub causal LM (its locked snapshot; engine/hub.py) on a pairs file with
the run's preference loss (engine/algorithms/preference.py), the paper scale of RainbowPO.

LoRA adapters (peft) are trained and the reference is the same model with its adapters off; with
`lora: null` the whole model is trained against a frozen copy. bf16 weights on GPUs. Under torchrun
each rank computes its share of every global minibatch and the gradients are summed across ranks
(engine/distributed.py), so N processes follow one process's trajectory up to summation order, except
for the two statistics a loss takes over its minibatch: KTO's reference point and the contextual scale's
mean are each rank's, over its share.
"""
from __future__ import annotations

import copy
import json
import time
from contextlib import nullcontext

import numpy as np
import torch

from .. import distributed, hub
from ..algorithms.preference import pair_loss
from ..stages.common import setup_torch
from . import lm, pairs_file, tuning


def load(model_cfg: dict, device, seed: int = 0):
    """(tokenizer, trainable model, reference model or None for LoRA's adapters-off reference).
    The adapters' random initialisation is seeded, the same on every rank."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = hub.resolve(model_cfg["pretrained"]["id"], model_cfg["pretrained"]["revision"])
    tok = AutoTokenizer.from_pretrained(path, use_safetensors=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    dtype = torch.bfloat16 if model_cfg["precision"] == "bf16" and device.type == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, use_safetensors=True).to(device)
    if model_cfg["lora"] is None:
        ref = copy.deepcopy(model).eval().requires_grad_(False)
        return tok, model, ref
    from peft import LoraConfig, get_peft_model
    lora = model_cfg["lora"]
    torch.manual_seed(seed)
    model = get_peft_model(model, LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"],
                                             target_modules=list(lora["target_modules"])))
    return tok, model, None


def _to(b: lm.Batch, device) -> lm.Batch:
    return lm.Batch(b.ids.to(device), b.attention.to(device), b.response.to(device))


def _logps(model, ref, batch, reference: bool):
    """Per-token log-probabilities of the policy, or of the reference (no gradient)."""
    if not reference:
        return lm.token_logps(model, batch)
    with torch.no_grad(), (model.disable_adapter() if ref is None else nullcontext()):
        return lm.token_logps(model if ref is None else ref, batch)


def _encoded(tok, pairs, device) -> tuple[lm.Batch, lm.Batch]:
    return tuple(_to(b, device) for b in lm.encode_pairs(tok, pairs))


def _pair_loss(cfg, model, ref, w: lm.Batch, l: lm.Batch, phi=None):
    """pair_loss on the policy's and the reference's per-token log-probabilities of a batch of pairs."""
    return pair_loss(cfg, _logps(model, ref, w, False), w.response, _logps(model, ref, l, False), l.response,
                     _logps(model, ref, w, True), _logps(model, ref, l, True), phi)


def margins(model, ref, tok, pairs, cfg, device, batch_size: int = 8) -> torch.Tensor:
    """The loss's margin u on each pair (no gradient): the implicit preference."""
    out = []
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            _, stats = _pair_loss(cfg, model, ref, *_encoded(tok, pairs[i:i + batch_size], device))
            out.append(stats["margin"].float().cpu())
    return torch.cat(out)


def fits(tok, pair, max_length: int) -> bool:
    prompt, chosen, rejected = pair
    n = len(tok(prompt, add_special_tokens=False)["input_ids"]) + 2
    return max(len(tok(r, add_special_tokens=False)["input_ids"]) for r in (chosen, rejected)) + n <= max_length


def train(model, ref, tok, pairs, alg: dict, max_length: int, seed: int, device, log=None) -> dict:
    """The run's steps: global minibatches of `batch_size` pairs drawn with replacement (seeded),
    each rank its share, gradients summed across ranks, Adam on the trainable parameters."""
    base, components = tuning.variant_parts(alg["variant"])
    cfg = tuning.loss_config(alg, components, base)
    pairs = [p for p in pairs if fits(tok, p, max_length)]
    if not pairs:
        raise ValueError(f"no pair fits within max_length {max_length}")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=alg["lr"])
    gen = torch.Generator().manual_seed(seed)
    losses, accs = [], []
    model.train()
    for step in range(alg["steps"]):
        idx, weight = distributed.shard(torch.randint(len(pairs), (alg["batch_size"],), generator=gen).tolist())
        w, l = _encoded(tok, [pairs[i] for i in idx], device)
        phi = None
        if cfg.contextual:          # over this rank's share of the minibatch (the miniature: over all pairs)
            with (model.disable_adapter() if ref is None else nullcontext()):
                phi = tuning.contextual_phi(model if ref is None else ref, w, l, len(tok))
        loss, stats = _pair_loss(cfg, model, ref, w, l, phi)
        opt.zero_grad()
        loss.float().mean().backward()
        distributed.reduce_gradients(params, weight)
        opt.step()
        losses.append(float(distributed.reduce_scalar(loss.detach().float().mean(), weight)))
        accs.append(float(distributed.reduce_scalar(stats["implicit_acc"].float().mean(), weight)))
        if log is not None and (step + 1) % max(1, alg["steps"] // 10) == 0:
            log(f"step {step + 1}/{alg['steps']}: loss {losses[-1]:.4f}, implicit accuracy {accs[-1]:.2f}")
    model.eval()
    tail = max(1, len(losses) // 10)
    return {"final_loss": float(np.mean(losses[-tail:])), "train_implicit_acc": float(np.mean(accs[-tail:])),
            "pairs_used": len(pairs), "cfg": cfg}


def run(instance, out_dir, log) -> dict:
    setup_torch()
    cfg = instance.config
    device = distributed.device()
    tok, model, ref = load(cfg["model"], device, cfg["seed"])
    train_pairs, heldout = pairs_file.read(cfg["data"])
    t0 = time.perf_counter()
    stats = train(model, ref, tok, train_pairs, cfg["algorithm"], cfg["model"]["max_length"], cfg["seed"],
                  device, log)
    seconds = time.perf_counter() - t0
    loss_cfg = stats.pop("cfg")
    held = [p for p in heldout if fits(tok, p, cfg["model"]["max_length"])]
    stats["heldout_implicit_acc"] = float((margins(model, ref, tok, held, loss_cfg, device) > 0).float().mean())
    stats["po_seconds"] = seconds
    if distributed.is_main():
        model.save_pretrained(out_dir / ("adapter" if ref is None else "model"), safe_serialization=True)
    (out_dir / "metrics.json").write_text(json.dumps(stats))
    log(f"loss {stats['final_loss']:.4f}, held-out implicit accuracy {stats['heldout_implicit_acc']:.3f}")
    return stats
