"""sd_rpo_pairs: RPO's critique -> instruction -> edit pipeline (arXiv 2503.11720) on a Stable Diffusion
run's own samples (what the stage does: sd_rpo_pairs_kind.py).

Images: `samples_per_prompt` per prompt (prompt i of image j is j mod P, as the evaluate stage
cycles them), initial noises from a generator seeded by the run's seed, the run's sampler at
lambda = 0 (DDIM) on the pretrained pipeline, in batches of `batch_size`. Edit seeds: one per image
from a generator seeded by seed + 1, recorded with the pair.

Writes pairs.jsonl (an image_pairs_file: chosen = the edit, rejected = the original, each pinned by
its sha256, with the critique, the instruction, the edit seed and the critic's gain), images/,
critiques.jsonl (every image's critique and parsed instructions, kept or not), samples_edits.png
(the first kept pairs: originals above, edits below) and metrics.json.
"""
from __future__ import annotations

import json
import time

import torch

from .. import distributed
from ..models.stable_diffusion import load_policy
from ..samplers.gddim import sample_chain
from ..spec.models import RunConfig
from ..stages.common import sampler_stds, setup_torch
from . import image_pairs_file, instructions
from .ip2p_editor import InstructEditor
from .vlm_critic import VLMCritic

SEED_RANGE = 2 ** 62
GRID_PAIRS = 8


def instruction_text(found: list, max_instructions: int) -> str:
    """The editor's instruction: the first `max_instructions` parsed instructions, joined with " and "."""
    return " and ".join(i.text for i in found[:max_instructions])


def make_pairs(policy, ode_stds, critic, editor, data, seed: int, out_dir, log=None) -> tuple[list, list, dict]:
    """(pair rows, critique rows, metrics) of the data block's prompts (module docstring)."""
    prompts = list(data.prompts)
    n = len(prompts) * data.samples_per_prompt
    which = policy.balanced_prompts(n)
    g = torch.Generator().manual_seed(seed)
    edit_seeds = torch.randint(0, SEED_RANGE, (n,), generator=torch.Generator().manual_seed(seed + 1)).tolist()
    pairs, critiques, gains, grid = [], [], [], []
    for start in range(0, n, data.batch_size):
        p = which[start:start + data.batch_size]
        with torch.no_grad():
            x0 = sample_chain(lambda x, k: policy.eps(x, k, p), policy.a, policy.s, ode_stds, policy.prior(len(p), g),
                              g, record=False)["x0"]
            images = policy.decode(x0).cpu()
        captions = [prompts[i] for i in p.tolist()]
        texts = critic.critique(images, captions)
        found = [instructions.parse(c) for c in texts]
        todo = [j for j, f in enumerate(found) if f]
        kept, gain = set(), {}
        if todo:
            orders = [instruction_text(found[j], data.editor.max_instructions) for j in todo]
            edited = editor.edit(images[todo], orders, [edit_seeds[start + j] for j in todo])
            sub = [captions[j] for j in todo]
            delta = critic.yes_log_odds(edited, sub) - critic.yes_log_odds(images[todo], sub)
            for k, j in enumerate(todo):
                gain[j] = float(delta[k])
                gains.append(gain[j])
                if gain[j] > 0 or not data.require_gain:
                    kept.add(j)
                    i = start + j
                    names = {w: f"images/{i:06d}_{w}.png" for w in ("edited", "original")}
                    digests = {w: image_pairs_file.save_png(img, out_dir / names[w])
                               for w, img in (("edited", edited[k]), ("original", images[j]))}
                    pairs.append({"caption": captions[j], "chosen": names["edited"], "rejected": names["original"],
                                  "chosen_sha256": digests["edited"], "rejected_sha256": digests["original"],
                                  "critique": texts[j], "instruction": orders[k], "edit_seed": edit_seeds[i],
                                  "critic_gain": gain[j], "image": i})
                    if len(grid) < GRID_PAIRS:
                        grid.append((images[j], edited[k]))
        for j, f in enumerate(found):
            critiques.append({"image": start + j, "caption": captions[j], "critique": texts[j],
                              "instructions": [{"kind": x.kind, "text": x.text} for x in f],
                              "edited": j in gain, "kept": j in kept, "critic_gain": gain.get(j)})
        if log is not None:
            log(f"{min(start + data.batch_size, n)}/{n} images: {len(pairs)} pairs kept")
    metrics = {"images": n, "critiqued_fraction": sum(bool(c["instructions"]) for c in critiques) / n,
               "instructions_per_image": sum(len(c["instructions"]) for c in critiques) / n,
               "edited_fraction": len(pairs) / n, "pairs": len(pairs),
               "critic_gain": sum(gains) / len(gains) if gains else 0.0}
    return pairs, critiques, {**metrics, "grid": grid}


def save_grid(grid: list, path, size: int) -> None:
    """Originals above, their edits below, one column per pair (a grey square when no edit was kept)."""
    from PIL import Image
    if not grid:
        grid = [(torch.zeros(3, size, size), torch.zeros(3, size, size))]
    top, bottom = (torch.cat([p[w] for p in grid], dim=2) for w in (0, 1))
    arr = ((torch.cat([top, bottom], dim=1).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)
    Image.fromarray(arr.numpy(), mode="RGB").save(path)


def run(instance, out_dir, log) -> dict:
    setup_torch()
    cfg = RunConfig.model_validate(instance.config)
    data = cfg.data
    device = distributed.device()
    dtype = torch.bfloat16 if (cfg.model.precision == "bf16" and device.type == "cuda") else None
    torch.manual_seed(cfg.seed)
    policy = load_policy(cfg)               # fresh adapters (B = 0): the pretrained model
    _, ode_stds = sampler_stds(cfg, policy)
    critic, editor = VLMCritic(data.critic, device, dtype), InstructEditor(data.editor, device, dtype)
    t0 = time.perf_counter()
    pairs, critiques, metrics = make_pairs(policy, ode_stds, critic, editor, data, cfg.seed, out_dir, log)
    save_grid(metrics.pop("grid"), out_dir / "samples_edits.png", cfg.model.resolution)
    metrics["pairs_seconds"] = round(time.perf_counter() - t0, 1)
    image_pairs_file.write(out_dir / "pairs.jsonl", pairs)
    (out_dir / "critiques.jsonl").write_text("".join(json.dumps(c, sort_keys=True) + "\n" for c in critiques))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, allow_nan=False))
    if len(pairs) <= data.n_heldout:
        log(f"warning: {len(pairs)} pairs kept, not more than the {data.n_heldout} held out: sd_dpo will refuse them "
            f"(critiques.jsonl says what the critic found)")
    log(f"{metrics['pairs']} pairs from {metrics['images']} images (critiqued {metrics['critiqued_fraction']:.2f}, "
        f"mean critic gain {metrics['critic_gain']:+.3f})")
    return metrics
