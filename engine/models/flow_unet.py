"""Class-conditional diffusers UNet2DModel as a rectified flow (the digits flow family).

x_t = (1 - t) x0 + t eps, t in [0, 1] (t = 1 is noise); the UNet predicts the velocity
v = eps - x0 and sees the timestep 1000 t (as SD3 and FLUX do). The sampling grid is
t_k = shift u / (1 + (shift - 1) u), u = k / steps (samplers/flow_sde.shifted_grid), kept in
the (a, s) form the other families use: a = 1 - t, s = t. Steps follow the flow SDE
(samplers/flow_sde.py; stochasticity 0 is the Euler ODE), and deterministic steps may be
taken by a second-order solver (samplers/second_order.py: Heun, or DPM-Solver++(2M) as
MixGRPO-Flash takes the steps after its window).
The class label is the prompt.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..samplers import flow_sde
from .unet import ClassPrompted, save_trained  # noqa: F401  (the contract's save_trained: the UNet's weights)

TIME_SCALE = 1000.0


class FlowUNetPolicy(flow_sde.FlowTransition, ClassPrompted, nn.Module):
    """v_theta(x, k, labels) of a fine-tunable UNet, with its frozen pretrained copy as reference."""

    parameterisation = "velocity"

    def __init__(self, unet, steps: int, shift: float, size: int, keep_reference: bool = False):
        super().__init__()
        self.unet = unet
        self.size = size
        self.ref = copy.deepcopy(unet).requires_grad_(False) if keep_reference else None
        t = flow_sde.shifted_grid(steps, shift)
        self.register_buffer("t", t.float())
        self.register_buffer("a", (1 - t).float())
        self.register_buffer("s", t.float())

    def _net(self, reference: bool):
        return self.ref if (reference and self.ref is not None) else self.unet

    def _velocity_at(self, net, x, t_level, labels):
        """The velocity at levels t_level: a scalar for x [n, ...], or [S] for x [S, m, ...]."""
        if t_level.dim() == 0:
            return net(x, (TIME_SCALE * t_level).expand(x.shape[0]), class_labels=labels).sample
        S, m = x.shape[:2]
        out = net(x.reshape(S * m, *x.shape[2:]), (TIME_SCALE * t_level).repeat_interleave(m),
                  class_labels=None if labels is None else labels.repeat(S)).sample
        return out.reshape(x.shape)

    def velocity(self, x, k, labels=None, reference: bool = False):
        """v at level k + 1 (the step k's start), k an int or a tensor of step indices [S]."""
        net = self._net(reference)
        if reference:
            with torch.no_grad():
                return self._velocity_at(net, x, self.t[k + 1], labels)
        return self._velocity_at(net, x, self.t[k + 1], labels)

    def velocity_at(self, x, tau, labels=None):
        """v of the tuned UNet at time tau (a scalar), for the deterministic steps of a solver's plan."""
        return self._velocity_at(self.unet, x, tau, labels)


def pretrain_loss(pre):
    """Rectified-flow velocity prediction: loss(unet, x0, labels, generator), t uniform on [0, 1]
    or logit-normal (SD3's, mean 0 and std 1)."""
    def loss(unet, x0, y, g):
        n = x0.shape[0]
        u = torch.randn(n, generator=g) if pre.time_sampling == "logit_normal" else torch.rand(n, generator=g)
        t = torch.sigmoid(u) if pre.time_sampling == "logit_normal" else u
        noise = torch.randn(x0.shape, generator=g)
        tt = t.view(-1, 1, 1, 1)
        xt = (1 - tt) * x0 + tt * noise
        return nn.functional.mse_loss(unet(xt, TIME_SCALE * t, class_labels=y).sample, noise - x0)
    return loss


def load_pretrained(path, model_cfg, steps: int, keep_reference: bool = False) -> FlowUNetPolicy:
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(str(path), use_safetensors=True)
    return FlowUNetPolicy(unet, steps, model_cfg.shift, unet.config.sample_size, keep_reference)


# ----------------------------------------------------------------------------- the model contract
def policy(cfg, upstream: dict, generator=None, weights: str | None = None) -> FlowUNetPolicy:
    """The flow_pretrain result's UNet (or fine-tuned `weights`); with a KL term the pretrained copy
    is kept as the reference."""
    from .. import store
    path = weights or (store.result_dir("pretrain", upstream["pretrain"]) / "unet")
    keep_ref = getattr(cfg.algorithm, "kl_coef", 0) > 0 and weights is None
    return load_pretrained(path, cfg.model, cfg.sampler.steps, keep_reference=keep_ref)


def pretrained(cfg, upstream: dict, generator=None) -> FlowUNetPolicy:
    return policy(cfg, upstream, generator)


def finetuned(cfg, upstream: dict, result_dir, generator=None) -> FlowUNetPolicy:
    return policy(cfg, upstream, weights=str(result_dir / "unet"))
