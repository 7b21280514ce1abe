"""image_pairs: reward-labelled, rejection-sampled and RPO pairs from the pretrained digits model
(engine/imagepo/pairs_kind.py says how each set is made).

Writes pairs.safetensors ({set}_chosen, {set}_rejected [n, 1, h, w], {set}_prompts [n], {set}_heldout [n]
0/1 for set in reward, rejection, rpo), critiques.json (every image's critique, the critique of its
redraw, the instructions carried out and whether the edit was kept),
metrics.json, and two grids: samples_edits.png (originals above their edits) and
samples_reward_pairs.png (chosen above rejected).
"""
from __future__ import annotations

import json
import math

import torch
from safetensors.torch import load_file, save_file

from .. import progress, registry, store
from ..samplers.gddim import sample_chain
from ..models.classifiers import load_stored
from ..models.unet import load_pretrained
from ..models.unet_kind import UNetModel
from ..rewards.classifier import ClassifierReward
from ..samplers import step_stds
from ..stages import data as data_stage
from ..stages.common import setup_torch
from . import editor, instructions
from .critic import ClassStats, Critic
from .pairs_kind import INSTRUCTIONS, ImagePairs

SETS = ("reward", "rejection", "rpo")


def run(instance, out_dir, log) -> dict:
    up = instance.upstream_by_role()
    cfg = ImagePairs.model_validate(instance.config["image_pairs"])
    sampler = registry.kind("sampler", instance.config["sampler"]["kind"]).spec.model_validate(instance.config["sampler"])
    seed = instance.config["seed"]
    setup_torch()
    model = UNetModel.model_validate(store.verify_files("pretrain", up["pretrain"])["config"]["model"])
    policy = load_pretrained(store.result_dir("pretrain", up["pretrain"]) / "unet", model.pretrain, sampler.steps)
    policy.requires_grad_(False)
    d = data_stage.load(up["data"])
    critic = Critic(load_stored(up["critic"]), ClassStats.measure(d["train_x"], d["train_y"], cfg.faint_quantile))
    reward = ClassifierReward.from_store(up["reward_model"])
    judge = ClassifierReward.from_store(up["judge"])
    g = torch.Generator().manual_seed(seed)

    # K images per prompt instance, from the pretrained model with the run's sampler
    n_prompts = 10 * cfg.prompts_per_class
    prompts = torch.arange(n_prompts) % 10
    stds = step_stds(sampler, policy.a, policy.s)
    bar = progress.bar(cfg.samples + 2, "image_pairs", unit="pass")
    images = []
    with torch.no_grad():
        for _ in range(cfg.samples):
            x_T = policy.prior(n_prompts, g)
            images.append(sample_chain(lambda x, k: policy.eps(x, k, prompts), policy.a, policy.s, stds, x_T, g,
                                       record=False)["x0"].clamp(-1, 1))
            bar.update(1)
    x = torch.stack(images, 1)                                  # [P, K, 1, h, w]
    r = reward(x.flatten(0, 1), prompts.repeat_interleave(cfg.samples)).view(n_prompts, cfg.samples)

    sets = {"reward": _best_worst(x, r, prompts, torch.ones_like(r, dtype=torch.bool)),
            "rejection": _best_worst(x, r, prompts, torch.rand(r.shape, generator=g) < torch.exp(
                (r - r.amax(1, keepdim=True)) / cfg.rejection_beta))}
    bar.update(1)

    # RPO: critique -> instructions -> edit -> keep the edits the critic scores higher. A redraw comes
    # first; the redrawn image is critiqued again and its own findings give the other instructions.
    flat, flat_prompts = x.flatten(0, 1), prompts.repeat_interleave(cfg.samples)
    critiques = critic.critique(flat, flat_prompts)
    parsed = [instructions.parse(c) for c in critiques]
    redraw = [[i for i in p if i.kind == "redraw"] for p in parsed]
    redrawn = editor.apply(policy, critic, flat, redraw, cfg.redraw_level, cfg.guidance, g).clamp(-1, 1)
    rows = [i for i, p in enumerate(redraw) if p]
    second = dict(zip(rows, critic.critique(redrawn[rows], flat_prompts[rows]) if rows else []))
    touch = [[i for i in instructions.parse(second[k]) if i.kind != "redraw"] if k in second
             else [i for i in p if i.kind != "redraw"] for k, p in enumerate(parsed)]
    edited = editor.apply(None, critic, redrawn, touch, cfg.redraw_level, cfg.guidance, g).clamp(-1, 1)
    kept, gain = _judged(critic, edited, flat, flat_prompts)
    accepted = torch.tensor([bool(p) for p in parsed]) & kept
    sets["rpo"] = (edited[accepted], flat[accepted], flat_prompts[accepted],
                   torch.nonzero(accepted).flatten() // cfg.samples)
    bar.update(1)
    bar.close()

    # held-out prompt instances, shared by every set: no image of a held-out pair is in a training pair
    held = torch.zeros(n_prompts, dtype=torch.bool)
    held[torch.randperm(n_prompts, generator=g)[:max(1, int(round(cfg.heldout_fraction * n_prompts)))]] = True
    available = {k: len(v[2]) for k, v in sets.items()}
    tensors, counts = {}, {}
    for part in (False, True):                       # equal reward and rpo counts in training and held out
        n = min(int((held[sets[k][3]] == part).sum()) for k in ("reward", "rpo"))
        if n < 1:
            raise ValueError(f"too few pairs to tune on: {available} (more prompts_per_class or samples)")
        for name, (chosen, rejected, p, inst) in sets.items():
            mine = torch.nonzero(held[inst] == part).flatten()
            keep = mine[torch.randperm(len(mine), generator=g)[:n]]      # rejection: at most n
            for key, v in (("chosen", chosen), ("rejected", rejected), ("prompts", p)):
                tensors.setdefault(f"{name}_{key}", []).append(v[keep])
            tensors.setdefault(f"{name}_heldout", []).append(torch.full((len(keep),), float(part)))
            counts[name] = counts.get(name, 0) + len(keep)
    tensors = {k: torch.cat(v).contiguous() for k, v in tensors.items()}
    save_file(tensors, str(out_dir / "pairs.safetensors"))

    r_edit = reward(edited, flat_prompts) - reward(flat, flat_prompts)
    j_edit = judge(edited, flat_prompts) - judge(flat, flat_prompts)
    metrics = {"pairs_each": counts["reward"], "pairs_rejection": counts["rejection"],
               **{f"pairs_{k}_available": v for k, v in available.items()},
               "critiqued_fraction": float(sum(bool(c) for c in critiques) / len(critiques)),
               "edited_fraction": accepted.float().mean().item(),
               "reward_pair_gap": _mean(reward(sets["reward"][0], sets["reward"][2])
                                        - reward(sets["reward"][1], sets["reward"][2])),
               "rpo_pair_reward_gap": _mean(r_edit[accepted]), "rpo_pair_judge_gap": _mean(j_edit[accepted]),
               "rpo_pair_critic_gap": _mean(gain[accepted])}
    for kind in INSTRUCTIONS:          # each kind alone, on the originals whose critique asks for it
        rows = [i for i, p in enumerate(parsed) if any(n.kind == kind for n in p)]
        if rows:
            alone = redrawn[rows] if kind == "redraw" else editor.apply(
                None, critic, flat[rows], [[n for n in parsed[i] if n.kind == kind] for i in rows], 0, 0.0, g)
            before, c = flat[rows], flat_prompts[rows]
            ok, d_critic = _judged(critic, alone, before, c)
            ok = ok.float()
            d_reward = reward(alone, c) - reward(before, c)
        else:
            ok = d_critic = d_reward = torch.zeros(0)
        metrics.update({f"{kind}_count": len(rows), f"{kind}_accepted": _mean(ok),
                        f"{kind}_critic_gain": _mean(d_critic), f"{kind}_reward_gain": _mean(d_reward)})
    (out_dir / "critiques.json").write_text(json.dumps(
        [{"prompt": int(c), "critique": t, "instructions": [i.text for i in p + q], "accepted": bool(a),
          **({"critique_after_redraw": second[k]} if k in second else {})}
         for k, (c, t, p, q, a) in enumerate(zip(flat_prompts.tolist(), critiques, redraw, touch, accepted.tolist()))],
        indent=0))
    _pair_grid(sets["rpo"][1], sets["rpo"][0], out_dir / "samples_edits.png")
    _pair_grid(sets["reward"][0], sets["reward"][1], out_dir / "samples_reward_pairs.png")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False))
    log(f"{counts} pairs (available {available}); {metrics['edited_fraction']:.2f} of images edited; "
        f"edit reward gain {metrics['rpo_pair_reward_gap']:+.3f}")
    return metrics


def _mean(v: torch.Tensor) -> float:
    return float(v.mean()) if len(v) else 0.0


def _best_worst(x, r, prompts, accept):
    """(chosen, rejected, prompts, prompt instance): best against worst of each prompt instance's
    accepted samples (>= 2)."""
    lo = torch.where(accept, r, math.inf).argmin(1)
    hi = torch.where(accept, r, -math.inf).argmax(1)
    ok = (accept.sum(1) >= 2) & (hi != lo)
    rows = torch.nonzero(ok).flatten()
    return x[rows, hi[rows]], x[rows, lo[rows]], prompts[rows], rows


def _judged(critic, edited, original, prompts) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, gain): the change of the critic's score, and whether the edit counts: the score rises and
    its class term does not fall (removing a flagged defect alone must not buy an edit that makes the
    digit less like its class)."""
    with torch.no_grad():
        logp = lambda z: critic.log_probs(z).gather(1, prompts.view(-1, 1))[:, 0]      # noqa: E731
        gain = critic.score(edited, prompts) - critic.score(original, prompts)
        return (gain > 0) & (logp(edited) >= logp(original)), gain


def _pair_grid(top, bottom, path, per_class: int = 6, scale: int = 4) -> None:
    """Up to `per_class` pairs, top above bottom, laid out in pairs of rows."""
    from PIL import Image

    n = min(len(top), 10 * per_class)
    size = top.shape[-1] if n else 8
    cols = 10
    rows = max(1, math.ceil(n / cols))
    grid = torch.full((rows * (2 * size + 2), cols * (size + 1)), -1.0)
    for i in range(n):
        r0, c0 = (i // cols) * (2 * size + 2), (i % cols) * (size + 1)
        grid[r0:r0 + size, c0:c0 + size] = top[i, 0]
        grid[r0 + size + 1:r0 + 2 * size + 1, c0:c0 + size] = bottom[i, 0]
    arr = ((grid.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    Image.fromarray(arr, mode="L").resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.NEAREST).save(path)


def load(h: str) -> dict[str, torch.Tensor]:
    """The tensors of an image_pairs result, after checking its files."""
    store.verify_files("image_pairs", h)
    return load_file(str(store.result_dir("image_pairs", h) / "pairs.safetensors"))
