"""evaluate: final numbers of a fine-tuned policy against its pretrained start.

reward_ode / reward_sde: E[r] of the fine-tuned policy under the ODE (lambda = 0) and the
training sampler; *_pretrained the same for the pretrained model; gap = ode - sde;
improvement = reward_ode - reward_ode_pretrained. Exact for Gaussian data, else Monte
Carlo on `evaluation.samples` fixed initial noises with standard errors (*_se).
"""
from __future__ import annotations

import json
import math

import torch
from safetensors.torch import load_file

from .. import store
from ..evaluation import resolve_method, reward_gap_metrics
from ..models import build_policy
from ..rewards import build as build_reward
from .common import Log, run_config, sampler_stds, setup_torch


def run(instance, out_dir, log: Log) -> dict:
    (up,) = instance.upstream
    prov = store.verify_files("finetune", up)
    cfg = run_config(prov["config"])
    ev = instance.config["evaluation"]
    setup_torch()
    reward = build_reward(cfg.reward)
    pre = build_policy(cfg, torch.Generator().manual_seed(cfg.seed))
    pre.reset_to_pretrained()
    ft = build_policy(cfg, torch.Generator().manual_seed(cfg.seed))
    state = load_file(str(store.result_dir("finetune", up) / "policy.safetensors"))
    ft.load_state_dict({**ft.state_dict(), **state})
    train_stds, ode_stds = sampler_stds(cfg, ft)
    method = resolve_method(ev["method"], ft, reward)
    m_ft = reward_gap_metrics(ft, ode_stds, train_stds, reward, method, ev["samples"], ev["seed"])
    m_pre = reward_gap_metrics(pre, ode_stds, train_stds, reward, method, ev["samples"], ev["seed"])
    metrics = dict(m_ft)
    for k, v in m_pre.items():
        metrics[k.replace("reward_ode", "reward_ode_pretrained").replace("reward_sde", "reward_sde_pretrained")
                .replace("gap", "gap_pretrained")] = v
    metrics["improvement"] = m_ft["reward_ode"] - m_pre["reward_ode"]
    metrics["improvement_se"] = math.hypot(m_ft["reward_ode_se"], m_pre["reward_ode_se"])
    metrics["method"] = method
    log(f"{method}: ode {metrics['reward_ode']:.4f} sde {metrics['reward_sde']:.4f} gap {metrics['gap']:+.4f} "
        f"(pretrained gap {metrics['gap_pretrained']:+.4f}) improvement {metrics['improvement']:+.4f}")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False))
    return metrics
