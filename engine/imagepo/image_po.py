"""image_po: Diffusion-DPO (Wallace et al. 2023) of the pretrained digits UNet on stored pairs, with
RainbowPO's components carried over to images (engine/imagepo/dpo_loss.py, the shared loss module).

One step: a minibatch of training pairs of the run's source (image_pairs.source; the `rejection`
component swaps the reward pairs for the rejection-sampled ones), one timestep t ~ U{0..T_train-1}
and one noise per pair shared by its chosen and rejected image, the policy's and the frozen
reference's noise predictions on both, the variant's loss, Adam, gradient norm clipped at 1.
Contextual scaling: phi(c) = mean over classes of e / e(c), with e(c) the reference's mean
denoising error on the class's chosen training images (classes the reference is unsure of get a
smaller beta, MallowsPO's dispersion idea).

Writes unet/ (the tuned UNet, as finetune does, so `evaluate` reads it), series.json (the loss
per step) and metrics.json: final_loss and train_implicit_acc (last 10 % of steps) and the implicit
accuracy on the held-out pairs of the run's source, averaged over 8 fixed (t, noise) draws
(implicit_acc_heldout: the fraction with chosen_reward > rejected_reward).
"""
from __future__ import annotations

import json
import time

import torch

from .. import progress, store
from ..algorithms.preference import loss_config
from ..algorithms.preference_kind import parse_variant
from ..errors import NumericalFault
from ..models.unet import alphas_cumprod, load_pretrained
from ..models.unet_kind import UNetModel
from ..stages.common import setup_torch
from . import pairs as pairs_stage
from .dpo_loss import diffusion_pair_loss

HELDOUT_DRAWS = 8


def training_pairs(tensors: dict, source: str, components: tuple[str, ...], heldout: bool = False):
    """(chosen, rejected, prompts) of a source's training (or held-out) pairs."""
    sets = {"reward": ["rejection" if "rejection" in components else "reward"], "rpo": ["rpo"],
            "both": ["reward", "rpo"]}[source]
    parts = []
    for s in sets:
        rows = tensors[f"{s}_heldout"] == (1 if heldout else 0)
        parts.append((tensors[f"{s}_chosen"][rows], tensors[f"{s}_rejected"][rows], tensors[f"{s}_prompts"][rows]))
    return tuple(torch.cat([p[i] for p in parts]) for i in range(3))


def noised(x0_w, x0_l, abar, t, noise):
    a = abar[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0_w + (1 - a).sqrt() * noise, a.sqrt() * x0_l + (1 - a).sqrt() * noise


def predictions(policy, xw, xl, t, c, reference: bool):
    net = policy.ref if reference else policy.unet
    out = net(torch.cat([xw, xl]), torch.cat([t, t]), class_labels=torch.cat([c, c])).sample
    return out.chunk(2)


def pair_terms(policy, loss_cfg, w, l, c, abar, t, noise, phi):
    xw, xl = noised(w, l, abar, t, noise)
    pol_w, pol_l = predictions(policy, xw, xl, t, c, reference=False)
    with torch.no_grad():
        ref_w, ref_l = predictions(policy, xw, xl, t, c, reference=True)
    return diffusion_pair_loss(loss_cfg, noise, noise, pol_w, pol_l, ref_w, ref_l, phi)


@torch.no_grad()
def contextual_phi(policy, chosen, prompts, abar, steps: int, generator) -> torch.Tensor:
    """[10]: phi(c) = mean_c' e(c') / e(c), e(c) the reference's denoising error on class c (docstring)."""
    t = torch.randint(0, steps, (len(chosen),), generator=generator)
    noise = torch.randn(chosen.shape, generator=generator)
    a = abar[t].view(-1, 1, 1, 1)
    err = (policy.ref(a.sqrt() * chosen + (1 - a).sqrt() * noise, t, class_labels=prompts).sample - noise)
    err = err.pow(2).flatten(1).mean(1)
    e = torch.stack([err[prompts == k].mean() if (prompts == k).any() else err.mean() for k in range(10)])
    return e.mean() / e


@torch.no_grad()
def implicit_accuracy(policy, loss_cfg, pairs, abar, steps: int, phi, seed: int) -> float:
    w, l, c = pairs
    if not len(c):
        return float("nan")
    g = torch.Generator().manual_seed(seed)
    diff = torch.zeros(len(c))
    for _ in range(HELDOUT_DRAWS):
        t = torch.randint(0, steps, (len(c),), generator=g)
        noise = torch.randn(w.shape, generator=g)
        _, stats = pair_terms(policy, loss_cfg, w, l, c, abar, t, noise, phi[c] if phi is not None else None)
        diff += stats["chosen_reward"] - stats["rejected_reward"]
    return (diff > 0).float().mean().item()


def run(instance, out_dir, log) -> dict:
    up = instance.upstream_by_role()
    cfg = instance.config
    alg, source, seed = cfg["algorithm"], cfg["image_pairs"]["source"], cfg["seed"]
    base, components = parse_variant(alg["variant"])
    loss_cfg = loss_config(alg, components, base)
    setup_torch()
    torch.manual_seed(seed)
    model = UNetModel.model_validate(store.verify_files("pretrain", up["pretrain"])["config"]["model"])
    policy = load_pretrained(store.result_dir("pretrain", up["pretrain"]) / "unet", model.pretrain,
                             cfg["sampler"]["steps"], keep_reference=True)
    tensors = pairs_stage.load(up["pairs"])
    w, l, c = training_pairs(tensors, source, components)
    heldout = training_pairs(tensors, source, components, heldout=True)
    abar = alphas_cumprod(model.pretrain).float()
    T = model.pretrain.train_timesteps
    g = torch.Generator().manual_seed(seed)
    # its own generator: the contextual run shares every minibatch, t and noise with plain dpo
    phi = contextual_phi(policy, w, c, abar, T, torch.Generator().manual_seed(seed + 1)) if loss_cfg.contextual else None
    opt = torch.optim.Adam(policy.unet.parameters(), lr=alg["lr"])
    losses, accs = [], []
    t0 = time.time()
    bar = progress.bar(alg["steps"], "image_po", unit="step")
    for step in range(1, alg["steps"] + 1):
        idx = torch.randint(0, len(c), (alg["batch_size"],), generator=g)
        t = torch.randint(0, T, (len(idx),), generator=g)
        noise = torch.randn(w[idx].shape, generator=g)
        loss, stats = pair_terms(policy, loss_cfg, w[idx], l[idx], c[idx], abar, t, noise,
                                 phi[c[idx]] if phi is not None else None)
        loss = loss.mean()
        if not torch.isfinite(loss):
            raise NumericalFault(f"non-finite preference loss at step {step}")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.unet.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        accs.append(((stats["chosen_reward"] - stats["rejected_reward"]) > 0).float().mean().item())
        bar.update(1)
        if step % max(1, alg["steps"] // 5) == 0:
            log(f"step {step}/{alg['steps']} loss {loss.item():.4f}")
    bar.close()
    tail = max(1, len(losses) // 10)
    metrics = {"final_loss": sum(losses[-tail:]) / tail, "train_implicit_acc": sum(accs[-tail:]) / tail,
               "implicit_acc_heldout": implicit_accuracy(policy, loss_cfg, heldout, abar, T, phi, seed + 1),
               "pairs_used": len(c), "po_seconds": round(time.time() - t0, 1)}
    policy.unet.save_pretrained(str(out_dir / "unet"), safe_serialization=True)
    (out_dir / "series.json").write_text(json.dumps({"loss": {"x": list(range(1, len(losses) + 1)), "y": losses}}))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, allow_nan=False))
    log(f"{alg['variant']} on {source} pairs: loss {metrics['final_loss']:.4f}, held-out implicit accuracy "
        f"{metrics['implicit_acc_heldout']:.3f}")
    return metrics
