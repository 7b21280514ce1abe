"""sd_dpo: Diffusion-DPO (Wallace et al. 2023) of a Stable Diffusion pipeline's LoRA adapters on image
pairs, with RainbowPO's components carried over to images (engine/imagepo/dpo_loss.py, the shared loss).

One step: a global minibatch of `batch_size` training pairs drawn with replacement, and for each pair
one timestep t ~ U{0..T-1} and one seed, from the run's generator on every rank. A pair's seed draws
its noise eps (shared by its chosen and rejected image) and its VAE posterior noises, so a pair's
numbers do not depend on which rank computes it. Both images are VAE-encoded (a posterior sample,
times the VAE's scaling factor) and noised to x_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps; the policy
is the UNet with its LoRA adapters, the reference the same UNet with them switched off. The loss is
the run's variant through `dpo_loss.diffusion_pair_loss` (the published Diffusion-DPO form with
`dpo+length_norm` and beta_normalised = beta_dpo: per-element means of the squared errors). Each rank
accumulates its share in backward passes of `model.pairs_per_backward` pairs; gradients are summed
across ranks, clipped to norm 1 and Adam steps (constant learning rate). Resume checkpoints every
`resources.checkpoint_every` steps.

Contextual scaling: phi(c) = mean over captions of e(c') / e(c), with e(c) the reference's mean
squared denoising error on the chosen images of caption c (one seeded (t, noise) draw per training
pair); held-out captions not seen in training get phi = 1.

Writes unet/lora.safetensors (the layout the stable_diffusion family's `finetuned` loads, so the
evaluate stage samples the tuned model), series.json (loss and implicit accuracy per step) and
metrics.json; implicit_acc_heldout is the fraction of held-out pairs whose implicit reward margin
(chosen_reward - rejected_reward), averaged over HELDOUT_DRAWS seeded (t, noise) draws, is positive.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import torch

from .. import checkpoint, distributed, progress, registry, store
from ..algorithms.preference import loss_config
from ..algorithms.preference_kind import parse_variant
from ..errors import EngineError, NumericalFault
from ..models.stable_diffusion import ADAPTER_FILE, encode_prompts, lora_components
from ..spec.models import RunConfig
from ..stages.common import setup_torch
from . import image_pairs_file
from .dpo_loss import diffusion_pair_loss

HELDOUT_DRAWS = 8
MAX_GRAD_NORM = 1.0
SEED_RANGE = 2 ** 62


@dataclass
class Pipeline:
    """The parts Diffusion-DPO uses: the LoRA-adapted UNet, the frozen VAE and text encoder."""
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    abar: torch.Tensor              # [T] alphas_cumprod, float32 on the device
    latent_shape: tuple[int, int, int]
    resolution: int
    device: torch.device
    autocast: torch.dtype | None    # bf16 on GPUs, None on CPUs


def load(cfg: RunConfig, device=torch.device("cpu")) -> Pipeline:
    """The run's pipeline with fresh LoRA adapters (seed torch first: their initialisation is random),
    set up as the stable_diffusion family's load_policy sets it up, so the saved adapter fits it."""
    m = cfg.model
    parts, dtype = lora_components(m, device)
    if parts["scheduler"].config.prediction_type != "epsilon":
        raise EngineError(f"scheduler prediction_type '{parts['scheduler'].config.prediction_type}': Diffusion-DPO "
                          f"here needs an epsilon-prediction model")
    unet = parts["unet"]
    factor = 2 ** (len(parts["vae"].config.block_out_channels) - 1)
    if m.resolution % factor:
        raise EngineError(f"model.resolution {m.resolution} is not a multiple of the VAE's downsampling "
                          f"factor {factor}")
    for name in ("unet", "vae", "text_encoder"):
        parts[name].to(device)
    return Pipeline(unet, parts["vae"], parts["text_encoder"], parts["tokenizer"],
                    parts["scheduler"].alphas_cumprod.float().to(device),
                    (parts["vae"].config.latent_channels, m.resolution // factor, m.resolution // factor),
                    m.resolution, device, dtype)


# ----------------------------------------------------------------------------- one minibatch
def pair_noises(pipe: Pipeline, seeds) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(eps, z_w, z_l), each [B, C, h, w]: the shared noise and the two VAE posterior noises of each
    pair, drawn from its own generator seeded by its seed."""
    out = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        out.append(torch.randn((3, *pipe.latent_shape), generator=g))
    eps, z_w, z_l = torch.stack(out).to(pipe.device).unbind(1)
    return eps, z_w, z_l


@torch.no_grad()
def encode(pipe: Pipeline, images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """VAE latents (a posterior sample with noise z, times the scaling factor) of images in [-1, 1]."""
    dist = pipe.vae.encode(images.to(pipe.device, pipe.vae.dtype)).latent_dist
    return (dist.mean.float() + dist.std.float() * z) * pipe.vae.config.scaling_factor


def eps_hat(pipe: Pipeline, x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor, reference: bool) -> torch.Tensor:
    """The UNet's noise prediction: the policy (with adapters), or the reference (without; no gradient)."""
    def forward():
        with torch.autocast(device_type=x.device.type, dtype=pipe.autocast or torch.float32,
                            enabled=pipe.autocast is not None):
            return pipe.unet(x, t, encoder_hidden_states=emb).sample.float()
    if not reference:
        return forward()
    with torch.no_grad():
        pipe.unet.disable_adapters()
        try:
            return forward()
        finally:
            pipe.unet.enable_adapters()


def pair_terms(pipe: Pipeline, loss_cfg, z_w, z_l, emb, t, eps, phi=None):
    """Per-pair loss and statistics at timesteps t with the shared noise eps (dpo_loss)."""
    a = pipe.abar[t].view(-1, 1, 1, 1)
    x = torch.cat([a.sqrt() * z_w + (1 - a).sqrt() * eps, a.sqrt() * z_l + (1 - a).sqrt() * eps])
    tt, ee = torch.cat([t, t]), torch.cat([emb, emb])
    pol_w, pol_l = eps_hat(pipe, x, tt, ee, reference=False).chunk(2)
    ref_w, ref_l = eps_hat(pipe, x, tt, ee, reference=True).chunk(2)
    return diffusion_pair_loss(loss_cfg, eps, eps, pol_w, pol_l, ref_w, ref_l, phi)


def prepare(pipe: Pipeline, pairs, seeds):
    """(z_w, z_l, emb, eps) of a list of pairs and their seeds."""
    chosen, rejected = image_pairs_file.load_images(pairs, pipe.resolution)
    eps, n_w, n_l = pair_noises(pipe, seeds)
    emb = encode_prompts(pipe.text_encoder, pipe.tokenizer, [p.caption for p in pairs], pipe.device)
    return encode(pipe, chosen, n_w), encode(pipe, rejected, n_l), emb, eps


def _phi(phi: dict | None, pairs) -> torch.Tensor | None:
    return None if phi is None else torch.tensor([phi.get(p.caption, 1.0) for p in pairs])


def _my_chunks(pairs, chunk: int):
    """(row indices, pairs) of this rank's share of `pairs`, `chunk` at a time."""
    rows = list(range(len(pairs)))[distributed.local_rows(len(pairs))]
    for c in range(0, len(rows), chunk):
        r = rows[c:c + chunk]
        yield r, [pairs[i] for i in r]


@torch.no_grad()
def contextual_phi(pipe: Pipeline, pairs, chunk: int, seed: int) -> dict[str, float]:
    """phi(caption) (module docstring), each rank computing its share of the pairs."""
    g = torch.Generator().manual_seed(seed)
    n = len(pairs)
    t, seeds = torch.randint(0, len(pipe.abar), (n,), generator=g), torch.randint(0, SEED_RANGE, (n,), generator=g)
    errs = []
    for r, sub in _my_chunks(pairs, chunk):
        chosen, _ = image_pairs_file.load_images(sub, pipe.resolution)
        eps, n_w, _ = pair_noises(pipe, seeds[r].tolist())
        emb = encode_prompts(pipe.text_encoder, pipe.tokenizer, [p.caption for p in sub], pipe.device)
        a = pipe.abar[t[r].to(pipe.device)].view(-1, 1, 1, 1)
        x = a.sqrt() * encode(pipe, chosen, n_w) + (1 - a).sqrt() * eps
        pred = eps_hat(pipe, x, t[r].to(pipe.device), emb, reference=True)
        errs.append((pred - eps).pow(2).flatten(1).mean(1).double().cpu())
    err = distributed.gather_rows(torch.cat(errs))
    by_caption: dict[str, list[float]] = {}
    for p, e in zip(pairs, err.tolist()):
        by_caption.setdefault(p.caption, []).append(e)
    e = {c: sum(v) / len(v) for c, v in by_caption.items()}
    mean = sum(e.values()) / len(e)
    return {c: mean / max(v, 1e-12) for c, v in e.items()}


# ----------------------------------------------------------------------------- training
def train(pipe: Pipeline, pairs, alg: dict, chunk: int, seed: int, log=None, resume=None) -> dict:
    """The run's steps (module docstring); returns final statistics, the per-step series and the loss config."""
    base, components = parse_variant(alg["variant"])
    loss_cfg = loss_config(alg, components, base)
    params = [p for p in pipe.unet.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=alg["lr"])
    gen = torch.Generator().manual_seed(seed)
    phi = contextual_phi(pipe, pairs, chunk, seed + 1) if loss_cfg.contextual else None
    losses, accs, start = [], [], 0
    restored = resume.restore(pipe.unet, opt, gen) if resume is not None else None
    if restored:
        start, extra = restored
        losses, accs = extra["losses"], extra["accs"]
    B, T = alg["batch_size"], len(pipe.abar)
    bar = progress.bar(alg["steps"], "sd_dpo", unit="step", initial=start)
    pipe.unet.train()
    for step in range(start, alg["steps"]):
        idx = torch.randint(0, len(pairs), (B,), generator=gen)
        t = torch.randint(0, T, (B,), generator=gen)
        seeds = torch.randint(0, SEED_RANGE, (B,), generator=gen)
        rows, weight = distributed.shard(list(range(B)))
        opt.zero_grad()
        loss_sum = acc_sum = 0.0
        for c in range(0, len(rows), chunk):
            r = rows[c:c + chunk]
            sub = [pairs[int(idx[i])] for i in r]
            z_w, z_l, emb, eps = prepare(pipe, sub, seeds[r].tolist())
            loss, stats = pair_terms(pipe, loss_cfg, z_w, z_l, emb, t[r].to(pipe.device), eps, _phi(phi, sub))
            (loss.sum() / len(rows)).backward()
            loss_sum += loss.detach().sum().item()
            acc_sum += (stats["chosen_reward"] > stats["rejected_reward"]).sum().item()
        distributed.reduce_gradients(params, weight)
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        opt.step()
        losses.append(float(distributed.reduce_scalar(torch.tensor(loss_sum / len(rows)), weight)))
        accs.append(float(distributed.reduce_scalar(torch.tensor(acc_sum / len(rows)), weight)))
        if not torch.isfinite(torch.tensor(losses[-1])):
            raise NumericalFault(f"non-finite preference loss at step {step + 1}")
        bar.update(1)
        if log is not None and (step + 1) % max(1, alg["steps"] // 10) == 0:
            log(f"step {step + 1}/{alg['steps']}: loss {losses[-1]:.4f}, implicit accuracy {accs[-1]:.2f}")
        if resume is not None:
            resume.maybe_save(step + 1, alg["steps"], pipe.unet, opt, gen, {"losses": losses, "accs": accs})
    bar.close()
    pipe.unet.eval()
    tail = max(1, len(losses) // 10)
    return {"final_loss": sum(losses[-tail:]) / tail, "train_implicit_acc": sum(accs[-tail:]) / tail,
            "pairs_used": len(pairs), "losses": losses, "accs": accs, "cfg": loss_cfg, "phi": phi}


@torch.no_grad()
def implicit_accuracy(pipe: Pipeline, loss_cfg, pairs, chunk: int, seed: int, phi=None) -> float:
    """The fraction of pairs whose margin chosen_reward - rejected_reward, averaged over HELDOUT_DRAWS
    seeded (t, noise) draws, is positive; each rank computes its share."""
    g = torch.Generator().manual_seed(seed)
    n = len(pairs)
    t = torch.randint(0, len(pipe.abar), (HELDOUT_DRAWS, n), generator=g)
    seeds = torch.randint(0, SEED_RANGE, (HELDOUT_DRAWS, n), generator=g)
    margin = []
    for r, sub in _my_chunks(pairs, chunk):
        chosen, rejected = image_pairs_file.load_images(sub, pipe.resolution)
        emb = encode_prompts(pipe.text_encoder, pipe.tokenizer, [p.caption for p in sub], pipe.device)
        total = torch.zeros(len(r), dtype=torch.float64)
        for d in range(HELDOUT_DRAWS):
            eps, n_w, n_l = pair_noises(pipe, seeds[d, r].tolist())
            _, stats = pair_terms(pipe, loss_cfg, encode(pipe, chosen, n_w), encode(pipe, rejected, n_l), emb,
                                  t[d, r].to(pipe.device), eps, _phi(phi, sub))
            total += (stats["chosen_reward"] - stats["rejected_reward"]).double().cpu()
        margin.append(total)
    margin = distributed.gather_rows(torch.cat(margin))
    return (margin > 0).double().mean().item()


def save_adapter(unet, directory) -> None:
    """The LoRA adapter as the stable_diffusion family saves it (directory/lora.safetensors)."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().cpu().contiguous() for k, v in get_peft_model_state_dict(unet).items()}
    save_file(state, str(directory / ADAPTER_FILE))


def read_pairs(cfg: RunConfig, upstream: dict):
    """(training, held-out) pairs: the user's file, or the pairs file of the data kind's pairs stage."""
    stage = registry.kind("data", cfg.data.kind).traits.get("pairs_stage")
    if stage is None:
        return image_pairs_file.read(cfg.data.model_dump(mode="json"))
    store.verify_files(stage, upstream["pairs"])
    return image_pairs_file.read_file(store.result_dir(stage, upstream["pairs"]) / "pairs.jsonl", cfg.data.n_heldout)


def run(instance, out_dir, log) -> dict:
    setup_torch()
    cfg = RunConfig.model_validate(instance.config)
    train_pairs, heldout = read_pairs(cfg, instance.upstream_by_role())
    torch.manual_seed(cfg.seed)                 # the adapters' initialisation, the same on every rank
    pipe = load(cfg, distributed.device())
    chunk = cfg.model.pairs_per_backward
    t0 = time.perf_counter()
    resume = checkpoint.Resume(instance, instance.resources.checkpoint_every, log)
    stats = train(pipe, train_pairs, instance.config["algorithm"], chunk, cfg.seed, log, resume)
    seconds = time.perf_counter() - t0
    losses, accs, loss_cfg, phi = (stats.pop(k) for k in ("losses", "accs", "cfg", "phi"))
    stats["implicit_acc_heldout"] = implicit_accuracy(pipe, loss_cfg, heldout, chunk, cfg.seed + 2, phi)
    stats["po_seconds"] = round(seconds, 1)
    if distributed.is_main():
        save_adapter(pipe.unet, out_dir / "unet")
    steps = list(range(1, len(losses) + 1))
    (out_dir / "series.json").write_text(json.dumps({"loss": {"x": steps, "y": losses},
                                                     "implicit_acc": {"x": steps, "y": accs}}, allow_nan=False))
    (out_dir / "metrics.json").write_text(json.dumps(stats, allow_nan=False))
    log(f"{instance.config['algorithm']['variant']}: loss {stats['final_loss']:.4f}, held-out implicit accuracy "
        f"{stats['implicit_acc_heldout']:.3f} ({len(train_pairs)} training pairs)")
    return stats
