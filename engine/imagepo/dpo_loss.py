"""Diffusion-DPO's loss (Wallace et al. 2023) written through the shared preference-loss module.

A diffusion model has no tractable log-likelihood; Diffusion-DPO replaces each response's
log-probability by the ELBO's per-step term. At one shared timestep t and one shared noise eps for
the chosen (w) and rejected (l) image of a pair, with x_t = a_t x_0 + s_t eps,

    log p(x_0) ~ -1/2 || eps - eps_theta(x_t, t) ||^2      (up to terms that cancel in the ratio)

so the per-element "token log-probabilities" handed to engine/algorithms/preference.py are
-1/2 (eps - eps_hat)^2 over the image's elements (pixels or latent entries), all unmasked. With
the dpo family and the sigmoid link this is the published loss,

    -log sigmoid( -beta/2 [ (|e_w|^2 - |e_w_ref|^2) - (|e_l|^2 - |e_l_ref|^2) ] ),

with beta on summed squared errors (the factor T omega(lambda_t) of the paper is absorbed into
beta). `length_norm` averages over the elements instead of summing, which is how the authors'
code (SalesforceAIResearch/DiffusionDPO, `.mean` over pixels, beta_dpo = 5000) writes it: for
images of one size this is exactly beta -> beta / elements, not a length correction.
"""
from __future__ import annotations

import torch

from ..algorithms.preference import PreferenceLoss, pair_loss


def denoising_logps(eps_hat: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """[B, D]: -1/2 (eps - eps_hat)^2 per element, flattened."""
    return -0.5 * (eps_hat.float() - eps.float()).pow(2).flatten(1)


def diffusion_pair_loss(cfg: PreferenceLoss, eps_w: torch.Tensor, eps_l: torch.Tensor,
                        pol_w: torch.Tensor, pol_l: torch.Tensor, ref_w: torch.Tensor, ref_l: torch.Tensor,
                        phi: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Per-pair loss [B] and statistics: the noises eps_* drawn for the chosen and rejected images
    (one shared draw in Diffusion-DPO), and the policy's and the frozen reference's predictions."""
    lp = [denoising_logps(p, e) for p, e in ((pol_w, eps_w), (pol_l, eps_l), (ref_w, eps_w), (ref_l, eps_l))]
    mask = torch.ones_like(lp[0])
    return pair_loss(cfg, lp[0], mask, lp[1], mask, lp[2], lp[3], phi)
