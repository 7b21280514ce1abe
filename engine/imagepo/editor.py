"""RPO's editor for digits: carries out the parser's instructions (engine/imagepo/instructions.py).

    redraw   SDEdit (Meng et al. 2022): re-noise the image to level `level` of the sampling grid
             (level + 2 when the critique says it looks like nothing), then run the deterministic
             DDIM steps down to 0 with the pretrained UNet prompted with the target class, guided by
             the critic: each step's x0 prediction moves by `guidance` x grad log p_critic(c | x0_hat)
    close    grey-level closing (3x3 dilation, then erosion): joins a broken stroke
    thicken  a thicker, darker stroke: max(y, 0.6 dilate_cross(y)), then 1.2 x, in ink units y in [0, 1]
    centre   shift by (dx, dy) pixels, the vacated pixels blank

Images are [n, 1, h, w] in [-1, 1]; instructions are applied in this order (redraw, close,
thicken, centre), each to the images whose instructions name it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ORDER = ("redraw", "close", "thicken", "centre")
CROSS = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])


def _ink(x):
    return (x.clamp(-1, 1) + 1) / 2


def _image(y):
    return y.clamp(0, 1) * 2 - 1


def dilate(y: torch.Tensor, cross: bool = False) -> torch.Tensor:
    if not cross:
        return F.max_pool2d(y, 3, stride=1, padding=1)
    patches = F.unfold(y, 3, padding=1)                                # [n, 9, h*w]
    mask = CROSS.flatten().view(1, 9, 1).to(y.dtype)
    return (patches * mask + (mask - 1) * 1e9).amax(1).view_as(y).clamp_min(0)


def erode(y: torch.Tensor) -> torch.Tensor:
    return -F.max_pool2d(-y, 3, stride=1, padding=1)


def close(x: torch.Tensor) -> torch.Tensor:
    y = _ink(x)
    padded = F.pad(y, (1, 1, 1, 1))            # erosion must not eat in from the border
    return _image(erode(dilate(padded))[..., 1:-1, 1:-1])


def thicken(x: torch.Tensor) -> torch.Tensor:
    y = _ink(x)
    return _image(torch.maximum(y, 0.6 * dilate(y, cross=True)) * 1.2)


def shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """x moved dx columns right and dy rows down; the vacated pixels are blank (-1)."""
    h, w = x.shape[-2:]
    out = torch.full_like(x, -1.0)
    src_r, dst_r = slice(max(0, -dy), min(h, h - dy)), slice(max(0, dy), min(h, h + dy))
    src_c, dst_c = slice(max(0, -dx), min(w, w - dx)), slice(max(0, dx), min(w, w + dx))
    out[..., dst_r, dst_c] = x[..., src_r, src_c]
    return out


def sdedit(policy, critic, x: torch.Tensor, targets: torch.Tensor, levels: torch.Tensor, guidance: float,
           generator: torch.Generator) -> torch.Tensor:
    """Re-noise each image to its level and denoise it toward its target class (see the docstring)."""
    noise = torch.randn(x.shape, generator=generator)
    out = x.clone()
    for level in levels.unique().tolist():
        rows = levels == level
        xt = policy.a[level] * x[rows] + policy.s[level] * noise[rows]
        c = targets[rows]
        for j in range(level - 1, -1, -1):
            with torch.no_grad():
                eps = policy.eps(xt, j, c)
            a_t, s_t = policy.a[j + 1], policy.s[j + 1]
            x0 = ((xt - s_t * eps) / a_t).detach().requires_grad_(True)
            logp = critic.log_probs(x0).gather(1, c.view(-1, 1)).sum()
            grad, = torch.autograd.grad(logp, x0)
            x0 = (x0 + guidance * grad).detach().clamp(-1, 1)
            eps = (xt - a_t * x0) / s_t
            xt = policy.a[j] * x0 + policy.s[j] * eps
        out[rows] = xt
    return out


def apply(policy, critic, x: torch.Tensor, instructions: list[list], level: int, guidance: float,
          generator: torch.Generator) -> torch.Tensor:
    """Each image edited by its list of instructions (engine/imagepo/instructions.Instruction)."""
    out = x.clone()
    for kind in ORDER:
        rows = [i for i, ins in enumerate(instructions) if any(n.kind == kind for n in ins)]
        if not rows:
            continue
        args = [next(n for n in instructions[i] if n.kind == kind).args for i in rows]
        idx = torch.tensor(rows)
        if kind == "redraw":
            targets = torch.tensor([a["target"] for a in args])
            levels = torch.tensor([min(len(policy.a) - 1, level + 2 * a["strong"]) for a in args])
            out[idx] = sdedit(policy, critic, out[idx], targets, levels, guidance, generator)
        elif kind == "close":
            out[idx] = close(out[idx])
        elif kind == "thicken":
            out[idx] = thicken(out[idx])
        else:
            for i, a in zip(rows, args):
                out[i] = shift(out[i:i + 1], a["dx"], a["dy"])[0]
    return out
