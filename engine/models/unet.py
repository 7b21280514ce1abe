"""Class-conditional diffusers UNet2DModel on a discrete DDPM schedule (the digits family).

The sampling grid picks `steps` of the `train_timesteps` training timesteps with diffusers'
"leading" spacing (t = 0, k, 2k, ...), in the same (a, s) form as the Gaussian family:
a = sqrt(abar_t), s = sqrt(1 - abar_t), and level 0 is clean data (abar = 1), so the last
step is deterministic. The class label is the prompt.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

NUM_CLASSES = 10


def build_unet(model_cfg, size: int):
    from diffusers import UNet2DModel

    n = len(model_cfg.channels)
    return UNet2DModel(sample_size=size, in_channels=1, out_channels=1,
                       block_out_channels=tuple(model_cfg.channels), layers_per_block=model_cfg.layers_per_block,
                       down_block_types=("DownBlock2D",) * n, up_block_types=("UpBlock2D",) * n,
                       num_class_embeds=NUM_CLASSES, norm_num_groups=model_cfg.norm_groups)


def alphas_cumprod(pre) -> torch.Tensor:
    betas = torch.linspace(pre.beta_start, pre.beta_end, pre.train_timesteps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, 0)


def sampling_grid(pre, steps: int):
    """(a, s, timesteps), each [steps + 1]; timesteps[k] is the UNet's t at level k (k >= 1)."""
    ac = alphas_cumprod(pre)
    ratio = pre.train_timesteps // steps
    t = torch.arange(steps, dtype=torch.int64) * ratio                 # leading spacing
    abar = torch.cat([torch.ones(1, dtype=torch.float64), ac[t]])
    timesteps = torch.cat([torch.full((1,), -1, dtype=torch.int64), t])
    return abar.sqrt().float(), (1 - abar).sqrt().float(), timesteps


class ClassPrompted:
    """The digits families' prompts (a class label) and prior (standard normal 1 x size x size images)."""
    size: int
    num_prompts = NUM_CLASSES

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 1, self.size, self.size, generator=generator)

    def sample_prompts(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, NUM_CLASSES, (n,), generator=generator)

    @staticmethod
    def balanced_prompts(n: int) -> torch.Tensor:
        return torch.arange(n) % NUM_CLASSES


class UNetPolicy(ClassPrompted, nn.Module):
    """eps_theta(x, k, labels) of a fine-tunable UNet, with its frozen pretrained copy as reference."""

    def __init__(self, unet, pre, steps: int, size: int, keep_reference: bool = False):
        super().__init__()
        self.unet = unet
        self.size = size
        self.ref = copy.deepcopy(unet).requires_grad_(False) if keep_reference else None
        a, s, t = sampling_grid(pre, steps)
        self.register_buffer("a", a)
        self.register_buffer("s", s)
        self.register_buffer("timesteps", t)

    def _call(self, net, x, k, labels):
        if isinstance(k, int):
            t = self.timesteps[k + 1].expand(x.shape[0])
            return net(x, t, class_labels=labels).sample
        S, m = x.shape[:2]
        t = self.timesteps[k + 1].repeat_interleave(m)
        out = net(x.reshape(S * m, *x.shape[2:]), t, class_labels=labels.repeat(S)).sample
        return out.reshape(x.shape)

    def eps(self, x, k, labels=None):
        return self._call(self.unet, x, k, labels)

    def eps_ref(self, x, k, labels=None):
        with torch.no_grad():
            return self._call(self.ref if self.ref is not None else self.unet, x, k, labels)

def load_pretrained(path, pre, steps: int, keep_reference: bool = False) -> UNetPolicy:
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(str(path), use_safetensors=True)
    return UNetPolicy(unet, pre, steps, unet.config.sample_size, keep_reference)


def pretrain_loss(pre):
    """DDPM epsilon prediction: loss(unet, x0, labels, generator) at uniform training timesteps."""
    ac = alphas_cumprod(pre).float()

    def loss(unet, x0, y, g):
        t = torch.randint(0, pre.train_timesteps, (x0.shape[0],), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        abar = ac[t].view(-1, 1, 1, 1)
        xt = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        return nn.functional.mse_loss(unet(xt, t, class_labels=y).sample, noise)
    return loss


# ----------------------------------------------------------------------------- the model contract
def policy(cfg, upstream: dict, generator=None, weights: str | None = None) -> UNetPolicy:
    """The pretrain result's UNet (or fine-tuned `weights`, a directory holding the UNet); with a
    KL term the pretrained copy is kept as the reference."""
    from .. import store
    path = weights or (store.result_dir("pretrain", upstream["pretrain"]) / "unet")
    keep_ref = getattr(cfg.algorithm, "kl_coef", 0) > 0 and weights is None
    return load_pretrained(path, cfg.model.pretrain, cfg.sampler.steps, keep_reference=keep_ref)


def pretrained(cfg, upstream: dict, generator=None) -> UNetPolicy:
    return policy(cfg, upstream, generator)


def save_trained(p: UNetPolicy, out_dir) -> None:
    p.unet.save_pretrained(str(out_dir / "unet"), safe_serialization=True)


def finetuned(cfg, upstream: dict, result_dir, generator=None) -> UNetPolicy:
    return policy(cfg, upstream, weights=str(result_dir / "unet"))
