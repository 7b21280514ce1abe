"""What the CLIP-based rewards share: loading through transformers' `from_pretrained`, and the
CLIP image preprocessing done in torch on batches of images in [-1, 1].

Preprocessing follows the processor's config: the image the processor would receive (8-bit:
x in [-1, 1] -> round(255 (x + 1) / 2)), shortest edge resized with bicubic filtering as PIL
does it (antialiased, a = -0.5, horizontal pass then vertical pass, each rounded to 8 bits),
center crop, rescale, normalize with the processor's mean and std. Without a resize it equals
the processor's output exactly; with one, pixels differ from PIL's fixed-point arithmetic by at
most a few 8-bit levels on a small fraction of pixels (tests/test_clip_rewards.py).
No gradients flow through it (quantization).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import EngineError
from ..hub import load_pretrained


def load_clip(model_ref, processor_ref=None):
    """(CLIPModel in eval mode, CLIPProcessor) through the real loading code."""
    from transformers import CLIPModel, CLIPProcessor

    model = load_pretrained(CLIPModel, model_ref, "CLIP model", dtype=torch.float32)
    processor = load_pretrained(CLIPProcessor, processor_ref or model_ref, "CLIP processor")
    return model.eval().requires_grad_(False), processor


def embedding(out) -> torch.Tensor:
    """get_image_features / get_text_features return a tensor (transformers 4) or an output whose
    pooler_output is the projected embedding (transformers 5)."""
    return out if torch.is_tensor(out) else out.pooler_output


def _edge(size, key):
    return size.get(key) if isinstance(size, dict) else getattr(size, key, None)


class ClipPreprocess:
    """Batched CLIP image preprocessing with a processor's settings."""

    def __init__(self, image_processor):
        ip = image_processor
        self.do_resize, self.do_crop = ip.do_resize, ip.do_center_crop
        self.shortest = _edge(ip.size, "shortest_edge")
        self.size_hw = (_edge(ip.size, "height"), _edge(ip.size, "width"))
        self.crop_hw = (_edge(ip.crop_size, "height"), _edge(ip.crop_size, "width")) if ip.do_center_crop else None
        if int(ip.resample) != 3:
            raise EngineError(f"CLIP preprocessing: resample {ip.resample} is not bicubic (3)")
        self.scale = ip.rescale_factor if ip.do_rescale else 1.0
        self.mean = torch.tensor(ip.image_mean if ip.do_normalize else [0.0] * 3, dtype=torch.float64)
        self.std = torch.tensor(ip.image_std if ip.do_normalize else [1.0] * 3, dtype=torch.float64)

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        if self.shortest:
            short, long = (h, w) if h <= w else (w, h)
            new_long = int(self.shortest * long / short)
            return (self.shortest, new_long) if h <= w else (new_long, self.shortest)
        return self.size_hw

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """[n, 3, H, W] in [-1, 1] -> pixel_values [n, 3, h, w] (float32)."""
        u8 = ((x.detach().double().clamp(-1, 1) + 1) * 127.5).round()
        if self.do_resize:
            u8 = resize_like_pil(u8, *self.target_size(*u8.shape[-2:]))
        if self.crop_hw:
            u8 = center_crop(u8, *self.crop_hw)
        mean, std = self.mean.to(u8.device).view(1, 3, 1, 1), self.std.to(u8.device).view(1, 3, 1, 1)
        return ((u8 * self.scale - mean) / std).float()


def resize_like_pil(u8: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL's bicubic resize of 8-bit images: width first, then height, each pass rounded."""
    if u8.shape[-1] != w:
        u8 = F.interpolate(u8, size=(u8.shape[-2], w), mode="bicubic", antialias=True, align_corners=False)
        u8 = u8.round().clamp(0, 255)
    if u8.shape[-2] != h:
        u8 = F.interpolate(u8, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        u8 = u8.round().clamp(0, 255)
    return u8


def center_crop(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Center crop as transformers does it (zero padding where the image is smaller)."""
    H, W = x.shape[-2:]
    if H < h or W < w:
        top, left = max((h - H) // 2, 0), max((w - W) // 2, 0)
        x = F.pad(x, (left, max(w - W, 0) - left, top, max(h - H, 0) - top))
        H, W = x.shape[-2:]
    top, left = (H - h) // 2, (W - w) // 2
    return x[..., top:top + h, left:left + w]


def batched(fn, n: int, batch: int):
    """Concatenate fn(start, stop) over chunks of `batch`."""
    return torch.cat([fn(i, min(i + batch, n)) for i in range(0, n, batch)])
