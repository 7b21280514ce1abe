"""DDPO's JPEG rewards: the encoded size in kB of each image at a fixed quality (Pillow).

compressibility = -size (smaller files score higher), incompressibility = +size.
"""
from __future__ import annotations

import io

import torch


def jpeg_kb(img: torch.Tensor, quality: int) -> float:
    """Size in kB of one [C, H, W] image in [-1, 1] encoded as JPEG."""
    from PIL import Image

    arr = ((img.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    mode = "L" if arr.shape[0] == 1 else "RGB"
    pil = Image.fromarray(arr[0].numpy() if mode == "L" else arr.permute(1, 2, 0).numpy(), mode=mode)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=quality)
    return buf.tell() / 1000.0


class JpegSize:
    def __init__(self, quality: int, sign: float):
        self.quality = quality
        self.sign = sign

    def __call__(self, x: torch.Tensor, prompts=None) -> torch.Tensor:
        return self.sign * torch.tensor([jpeg_kb(img, self.quality) for img in x], dtype=x.dtype)


def build(cfg, upstream: dict, device=None) -> JpegSize:
    return JpegSize(cfg.quality, sign=-1.0 if cfg.kind == "jpeg_compressibility" else 1.0)
