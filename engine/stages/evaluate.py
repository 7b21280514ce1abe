"""evaluate: final numbers of a fine-tuned policy against its pretrained start.

reward_ode / reward_sde: E[r] of the fine-tuned policy under the ODE (lambda = 0) and the
training sampler; *_pretrained the same for the pretrained model; gap = ode - sde;
improvement = reward_ode - reward_ode_pretrained. Exact for Gaussian data, else Monte
Carlo on `evaluation.samples` fixed initial noises with standard errors (*_se; improvement_se
is paired: both policies see the same noises).
Image families add, from a judge that is not the reward: judge accuracy on the prompted
class and diversity (mean pairwise distance of judge features within a class), both on
ODE samples, and before/after sample grids; with `evaluation.per_prompt` also the fraction of
prompts improved (prompts_improved; per prompt instance: samples_improved). `evaluation.steps` evaluates
both policies with another step count than training's (the algorithm's own metrics, on the training
grid, are then left out); `evaluation.solver` takes the ODE sampler's steps by Heun (second order). With either set,
transfer = improvement - improvement_train, the improvement here against the one at the training step count and
solver (same noises): how fine-tuning carries over to another discretisation (0 at training's own). The trained policy is
a finetune result, or the result of the stage kind the instance's `trained_by` names (offline
preference tuning: image_po, sd_dpo). MixGRPO adds reward_window: the mixed ODE-SDE sampler with the window where training ended. Stable Diffusion (no judge) saves rows
of decoded ODE samples before and after fine-tuning.
"""
from __future__ import annotations

import hashlib
import json
import math

import torch
from .. import registry, store
from ..evaluation import expected_reward, resolve_method, reward_gap_metrics
from ..models import family
from ..samplers.second_order import full_plan
from .common import Log, finetune_config, reward_for, sampler_stds, setup_torch


def _rename(m: dict, suffix: str) -> dict:
    out = {}
    for k, v in m.items():
        base, se = (k[:-3], "_se") if k.endswith("_se") else (k, "")
        out[f"{base}{suffix}{se}"] = v
    return out


def run(instance, out_dir, log: Log) -> dict:
    up = instance.upstream_by_role()
    trained_by = instance.config.get("trained_by", "finetune")     # the stage kind of the trained policy
    ft_prov = store.verify_files(trained_by, up["finetune"])
    ft_up = dict(zip(ft_prov.get("roles", []), ft_prov["upstream"]))
    cfg = finetune_config(ft_prov["config"], ft_up)
    ev = instance.config["evaluation"]
    transfer = ev.get("steps") not in (None, cfg.sampler.steps)
    trained_cfg = cfg
    if transfer:             # the same trained policy at another step count (its family maps it onto the grid)
        cfg = cfg.model_copy(update={"sampler": cfg.sampler.model_copy(update={"steps": ev["steps"]})})
    setup_torch()
    gen = lambda: torch.Generator().manual_seed(cfg.seed)   # noqa: E731
    ft_dir = store.result_dir(trained_by, up["finetune"])
    pre = family(cfg).pretrained(cfg, ft_up, gen())
    ft = family(cfg).finetuned(cfg, ft_up, ft_dir, gen())
    reward = reward_for(cfg, ft_up, ft)
    train_stds, ode_stds = sampler_stds(cfg, ft)
    method = resolve_method(ev["method"], ft, reward)
    plan = full_plan(ode_stds, ev["solver"]) if ev.get("solver", "euler") != "euler" else None
    ode = {"": {}, "_pretrained": {}}          # the ODE samples of each policy (same noises), reused below
    metrics = reward_gap_metrics(ft, ode_stds, train_stds, reward, method, ev["samples"], ev["seed"], ode[""], plan)
    key = _pretrained_key(pre, cfg, ft_up, ev, method)
    if key not in _PRETRAINED:
        keep = {}
        _PRETRAINED[key] = (reward_gap_metrics(pre, ode_stds, train_stds, reward, method, ev["samples"], ev["seed"],
                                               keep, plan), keep)
    shared, ode["_pretrained"] = _PRETRAINED[key]
    metrics.update(_rename(shared, "_pretrained"))
    metrics["improvement"] = metrics["reward_ode"] - metrics["reward_ode_pretrained"]
    if ode[""]:        # Monte Carlo: paired over the shared initial and step noises
        diff = ode[""]["rewards"] - ode["_pretrained"]["rewards"]
        metrics["improvement_se"] = float(diff.std() / math.sqrt(len(diff)))
    else:
        metrics["improvement_se"] = 0.0
    if ev.get("steps") is not None or plan is not None:      # how the improvement carries over from training's setting
        metrics["improvement_train"] = (_improvement_at(trained_cfg, ft_up, ft_dir, method, ev)
                                        if transfer or plan is not None else metrics["improvement"])
        metrics["transfer"] = metrics["improvement"] - metrics["improvement_train"]
    metrics["method"] = method
    algorithm = registry.implementation(registry.kind("algorithm", cfg.algorithm.kind))
    if hasattr(algorithm, "evaluation_metrics") and not transfer:   # its own (`metrics` trait), on the training grid
        metrics.update(algorithm.evaluation_metrics(ft, train_stds, reward, method, cfg, ev))
    if hasattr(family(cfg), "evaluation_metrics"):     # the model family's own (its `metrics` trait)
        metrics.update(family(cfg).evaluation_metrics(ft, pre, cfg, ode_stds, train_stds, reward,
                                                      **({"ode_plan": plan} if plan is not None else {})))
    if hasattr(ft, "decode"):          # text-to-image: before/after samples of the ODE sampler
        from ..models.stable_diffusion import save_samples
        for name, pol in (("_finetuned", ft), ("_pretrained", pre)):
            save_samples(pol, ode_stds, ev["seed"], out_dir / f"samples{name}.png")
    if "judge" in up:
        from ..models.classifiers import load_stored
        judge = load_stored(up["judge"])
        for name in ("", "_pretrained"):
            x0, prompts = ode[name]["x0"], ode[name]["prompts"]        # = sample_x0(policy, ode_stds, ...)
            metrics.update(_rename(judge_metrics(judge, x0, prompts), name))
            save_grid(x0, prompts, out_dir / f"samples{name or '_finetuned'}.png")
        if ev.get("per_prompt"):
            metrics.update(prompts_improved(judge, ode[""], ode["_pretrained"]))
    log(f"{method}: ode {metrics['reward_ode']:.4f} sde {metrics['reward_sde']:.4f} gap {metrics['gap']:+.4f} "
        f"(pretrained gap {metrics['gap_pretrained']:+.4f}) improvement {metrics['improvement']:+.4f}"
        + (f" judge {metrics['judge_accuracy']:.3f} (pretrained {metrics['judge_accuracy_pretrained']:.3f})"
           if "judge_accuracy" in metrics else ""))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False))
    return metrics


# One job's evaluations of pretrained models, shared by the runs it evaluates that differ only in what was
# trained (their algorithm or seed): the same pretrained weights, sampler, reward and noises give the same
# numbers, so each is computed once (and a trained result's ODE reward at its training setting, which every
# evaluation of it at another step count or solver compares with). The key holds a digest of the pretrained policy's own tensors, so
# nothing that could differ is shared; it is bounded and never leaves the process.
_PRETRAINED: dict = {}
_SHARE_MAX_ELEMENTS = 50_000_000        # a larger model (SD, FLUX) is not digested: it shares within its seed only


def _pretrained_key(pre, cfg, ft_up: dict, ev: dict, method: str, what: str = "gap") -> str:
    if len(_PRETRAINED) > 256:
        _PRETRAINED.clear()
    tensors = dict(pre.state_dict()) if hasattr(pre, "state_dict") else {}
    if sum(t.numel() for t in tensors.values()) <= _SHARE_MAX_ELEMENTS:
        h = hashlib.sha256()
        for name in sorted(tensors):
            t = tensors[name].detach().cpu().contiguous()
            h.update(f"{name}{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        identity = h.hexdigest()
    else:
        identity = f"seed {cfg.seed}"
    config = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in ("algorithm", "seed")}
    return json.dumps([what, identity, config, sorted(ft_up.items()), {k: v for k, v in ev.items() if k != "judge"},
                       method], sort_keys=True, default=str)


def _improvement_at(cfg, ft_up, ft_dir, method, ev) -> float:
    """The ODE improvement at the training step count with the sampler's own solver, on the same noises
    as the evaluation's ODE samples (what a plain evaluation reports as `improvement`); the trained model
    and its reward are built only when the job has not computed both numbers already."""
    gen = lambda: torch.Generator().manual_seed(cfg.seed)   # noqa: E731
    pre = family(cfg).pretrained(cfg, ft_up, gen())
    at = json.dumps([str(ft_dir), ev["samples"], ev["seed"], method])      # the same trained result, same noises
    key = _pretrained_key(pre, cfg, ft_up, {**ev, "steps": None, "solver": "euler"}, method, "ode")
    if at not in _PRETRAINED or key not in _PRETRAINED:
        ft = family(cfg).finetuned(cfg, ft_up, ft_dir, gen())
        reward = reward_for(cfg, ft_up, ft)
        _, ode_stds = sampler_stds(cfg, ft)
        for k, policy in ((at, ft), (key, pre)):
            if k not in _PRETRAINED:
                _PRETRAINED[k] = expected_reward(policy, ode_stds, reward, method, ev["samples"], ev["seed"])
    return _PRETRAINED[at][0] - _PRETRAINED[key][0]


def judge_metrics(judge, x0, prompts) -> dict:
    with torch.no_grad():
        x = x0.float().clamp(-1, 1)
        acc = (judge(x).argmax(1) == prompts).float().mean().item()
        feats = judge.features(x)
        dists = []
        for c in prompts.unique():
            f = feats[prompts == c]
            if len(f) > 1:
                d = torch.cdist(f, f)
                dists.append(d.sum() / (len(f) * (len(f) - 1)))
        return {"judge_accuracy": acc, "diversity": torch.stack(dists).mean().item() if dists else 0.0}


def prompts_improved(judge, tuned: dict, pretrained: dict) -> dict:
    """prompts_improved: the fraction of prompts (classes) whose mean judge log-probability of the
    prompted class is higher after fine-tuning; samples_improved: the same per prompt instance (a class
    and one fixed initial noise: both policies sampled from the same noises)."""
    with torch.no_grad():
        def logp(s):
            return torch.log_softmax(judge(s["x0"].float().clamp(-1, 1)), 1).gather(1, s["prompts"].view(-1, 1))[:, 0]
        after, before, prompts = logp(tuned), logp(pretrained), tuned["prompts"]
        classes = prompts.unique()
        better = [after[prompts == c].mean() > before[prompts == c].mean() for c in classes]
    return {"prompts_improved": float(sum(better)) / len(classes),
            "samples_improved": (after > before).float().mean().item()}


def save_grid(x0, prompts, path, per_class: int = 8, scale: int = 4) -> None:
    """A grid of samples: one column per class, `per_class` rows."""
    from PIL import Image

    classes = sorted(prompts.unique().tolist())
    size = x0.shape[-1]
    grid = torch.full((per_class * (size + 1), len(classes) * (size + 1)), -1.0)
    for j, c in enumerate(classes):
        imgs = x0[prompts == c][:per_class, 0]
        for i, img in enumerate(imgs):
            grid[i * (size + 1): i * (size + 1) + size, j * (size + 1): j * (size + 1) + size] = img.float()
    arr = ((grid.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    Image.fromarray(arr, mode="L").resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.NEAREST).save(path)
