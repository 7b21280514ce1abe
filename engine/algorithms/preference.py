"""Pairwise preference losses on log-probabilities: DPO, its baselines and RainbowPO's components.

The module works on per-token log-probabilities of response tokens only (never on models), so the
same loss serves a causal LM (the RainbowPO miniature, arXiv 2410.04203) and Diffusion-DPO. Inputs
are [B, T] per-token log-probs of the policy and the frozen reference on the chosen (w) and rejected
(l) responses, with 0/1 float masks [B, T] (padding is 0; the reference shares the policy's masks),
and an optional per-example contextual scale phi [B] (default ones).

Sequence log-probability, summed or (length_norm) averaged over the unmasked tokens:

    S(x) = sum_t m_t x_t        or        S(x) = sum_t m_t x_t / sum_t m_t

Shared quantities (alpha = ref_mix, gamma = margin, NLL_w = -mean per-token log-prob of y_w):

    h = [S(pol_w) - S(pol_l)] - alpha [S(ref_w) - S(ref_l)]
    b = beta * phi  if contextual  else  beta
    u = b h - gamma

Families (`loss`):

    dpo    link(u), link one of
               sigmoid  -log sigmoid(u)
               hinge    max(0, 1 - u)
               square   (u - 1)^2
               cauchy   -log(1/2 + arctan(u) / pi)
    ipo    (h - 1 / (2 beta))^2, with alpha = 1 and no margin (beta plays IPO's tau)
    simpo  -log sigmoid(b [mean_logp_w - mean_logp_l] - gamma); no reference, always length-normalised
    orpo   NLL_w + lambda_ORPO (-log sigmoid(logodds_w - logodds_l)); no reference, with
           logodds = m - log(1 - exp(m)), m = mean per-token log-prob clamped to <= -1e-6
    kto    lambda_D (1 - sigmoid(beta (r_w - z0))) + lambda_U (1 - sigmoid(beta (z0 - r_l))), with
           r = S(pol) - S(ref) and the reference point z0 = max(0, mean over the batch of (r_w + r_l) / 2),
           a batch estimate of KL(policy || reference), held fixed (no gradient) as in KTO

sft_weight > 0 adds sft_weight * NLL_w to every family. Per-example statistics (detached, [B]):
"margin" (u for dpo and simpo, h for ipo, logodds_w - logodds_l for orpo, r_w - r_l for kto),
"implicit_acc" (margin > 0), "chosen_reward" / "rejected_reward" (b [S(pol) - S(ref)] per response).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSSES = ("dpo", "ipo", "simpo", "orpo", "kto")
LINKS = ("sigmoid", "hinge", "square", "cauchy")
MAX_MEAN_LOGP = -1e-6


@dataclass(frozen=True)
class PreferenceLoss:
    """Which preference loss, and its settings (see the module docstring for the formulas)."""

    loss: str = "dpo"
    beta: float = 0.1
    length_norm: bool = False
    link: str = "sigmoid"
    margin: float = 0.0
    ref_mix: float = 1.0
    contextual: bool = False
    sft_weight: float = 0.0
    orpo_lambda: float = 0.1
    kto_desirable: float = 1.0
    kto_undesirable: float = 1.0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown preference loss '{self.loss}' (one of: {', '.join(LOSSES)})")
        if self.link not in LINKS:
            raise ValueError(f"unknown link '{self.link}' (one of: {', '.join(LINKS)})")
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        if not 0 <= self.ref_mix <= 1:
            raise ValueError(f"ref_mix must be in [0, 1], got {self.ref_mix}")
        for name in ("margin", "sft_weight", "orpo_lambda", "kto_desirable", "kto_undesirable"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def sequence_logps(token_logps: torch.Tensor, mask: torch.Tensor, normalise: bool) -> torch.Tensor:
    """[B]: the masked sum of per-token log-probs, or their mean over the unmasked tokens."""
    total = torch.where(mask > 0, token_logps, 0.0).sum(-1)
    return total / mask.to(total.dtype).sum(-1).clamp_min(1) if normalise else total


def _link(name: str, u: torch.Tensor) -> torch.Tensor:
    if name == "sigmoid":
        return -F.logsigmoid(u)
    if name == "hinge":
        return F.relu(1 - u)
    if name == "square":
        return (u - 1) ** 2
    return -torch.log(0.5 + torch.atan(u) / math.pi)


def _log_odds(mean_logp: torch.Tensor) -> torch.Tensor:
    """log p - log(1 - p) for p = exp(mean_logp), stable for p near 0 and (clamped) near 1."""
    m = mean_logp.clamp(max=MAX_MEAN_LOGP)
    return m - torch.log1p(-torch.exp(m))


def _kto(cfg: PreferenceLoss, r_w: torch.Tensor, r_l: torch.Tensor) -> torch.Tensor:
    z0 = ((r_w + r_l) / 2).mean().clamp(min=0).detach()
    return (cfg.kto_desirable * (1 - torch.sigmoid(cfg.beta * (r_w - z0)))
            + cfg.kto_undesirable * (1 - torch.sigmoid(cfg.beta * (z0 - r_l))))


def pair_loss(cfg: PreferenceLoss, pol_w: torch.Tensor, mask_w: torch.Tensor, pol_l: torch.Tensor,
              mask_l: torch.Tensor, ref_w: torch.Tensor, ref_l: torch.Tensor,
              phi: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The per-example loss [B] of cfg's family (mean it yourself) and the per-example statistics."""
    normalise = cfg.length_norm or cfg.loss == "simpo"
    s_pw, s_pl = sequence_logps(pol_w, mask_w, normalise), sequence_logps(pol_l, mask_l, normalise)
    s_rw, s_rl = sequence_logps(ref_w, mask_w, normalise), sequence_logps(ref_l, mask_l, normalise)
    b = cfg.beta * phi.to(s_pw.dtype) if cfg.contextual and phi is not None else cfg.beta
    nll_w = -sequence_logps(pol_w, mask_w, True)

    if cfg.loss == "dpo":
        margin = b * ((s_pw - s_pl) - cfg.ref_mix * (s_rw - s_rl)) - cfg.margin
        loss = _link(cfg.link, margin)
    elif cfg.loss == "ipo":
        margin = (s_pw - s_pl) - (s_rw - s_rl)
        loss = (margin - 1 / (2 * cfg.beta)) ** 2
    elif cfg.loss == "simpo":
        margin = b * (s_pw - s_pl) - cfg.margin
        loss = -F.logsigmoid(margin)
    elif cfg.loss == "orpo":
        margin = _log_odds(-nll_w) - _log_odds(sequence_logps(pol_l, mask_l, True))
        loss = nll_w - cfg.orpo_lambda * F.logsigmoid(margin)
    else:
        margin = (s_pw - s_rw) - (s_pl - s_rl)
        loss = _kto(cfg, s_pw - s_rw, s_pl - s_rl)

    if cfg.sft_weight > 0:
        loss = loss + cfg.sft_weight * nll_w
    stats = {"margin": margin.detach(), "implicit_acc": (margin > 0).to(s_pw.dtype).detach(),
             "chosen_reward": (b * (s_pw - s_rw)).detach(), "rejected_reward": (b * (s_pl - s_rl)).detach()}
    return loss, stats


def loss_config(alg: dict, components: tuple[str, ...], base: str = "dpo") -> PreferenceLoss:
    """The loss of a `preference` algorithm block (a dict) for a base and its RainbowPO components:
    a component's setting is the block's field of the same name, off when it is not named."""
    normalised = "length_norm" in components or base == "simpo"
    return PreferenceLoss(
        loss=base, beta=alg["beta_normalised"] if normalised else alg["beta"],
        length_norm="length_norm" in components, link=alg["link"] if "link" in components else "sigmoid",
        margin=alg["margin"] if ("margin" in components or base == "simpo") else 0.0,
        ref_mix=alg["ref_mix"] if "ref_mix" in components else 1.0, contextual="contextual" in components,
        sft_weight=alg["sft_weight"] if "sft" in components else 0.0)
