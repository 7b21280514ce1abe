"""RPO's editor at the paper scale: diffusers' StableDiffusionInstructPix2PixPipeline from its locked
snapshot (engine/hub.py; no safety checker), carrying out a text instruction on each image with the
spec's text and image guidance and the pipeline's own scheduler, one seeded generator per image.
Images keep their size (a multiple of the VAE's factor, 8 for SD)."""
from __future__ import annotations

import torch

from ..hub import load_pretrained


class InstructEditor:
    def __init__(self, cfg, device=torch.device("cpu"), dtype=None):
        from diffusers import StableDiffusionInstructPix2PixPipeline
        self.cfg = cfg
        self.pipe = load_pretrained(StableDiffusionInstructPix2PixPipeline, cfg.pretrained, "editor (InstructPix2Pix)",
                                    safety_checker=None, feature_extractor=None, requires_safety_checker=False,
                                    dtype=dtype or torch.float32).to(device)
        self.pipe.set_progress_bar_config(disable=True)

    @torch.no_grad()
    def edit(self, images: torch.Tensor, instructions: list[str], seeds: list[int]) -> torch.Tensor:
        """images [B, 3, H, W] in [-1, 1], one instruction and seed each -> the edited images, same range."""
        out = self.pipe(prompt=list(instructions), image=(images.float().clamp(-1, 1) + 1) / 2,
                        num_inference_steps=self.cfg.steps, guidance_scale=self.cfg.guidance_scale,
                        image_guidance_scale=self.cfg.image_guidance_scale,
                        generator=[torch.Generator().manual_seed(int(s)) for s in seeds], output_type="pt").images
        return out.float().cpu() * 2 - 1
