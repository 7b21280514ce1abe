"""RPO's critic at the paper scale: a vision-language model of transformers (AutoProcessor and
AutoModelForImageTextToText: LLaVA, Idefics, Qwen2-VL, ...) from its locked snapshot (engine/hub.py).

`critique` asks the spec's critique prompt about each image and returns the model's answer (greedy
decoding of at most max_new_tokens, the prompt left out): free text that the instruction parser
(engine/imagepo/instructions.py) reads. `yes_log_odds` scores an image by the model's next-token
logit of "Yes" minus that of "No" after the spec's yes/no question (the first token of each word):
the edit filter's score.
"""
from __future__ import annotations

import torch

from ..hub import load_pretrained


def to_pil(images: torch.Tensor) -> list:
    """[B, 3, H, W] in [-1, 1] -> RGB PIL images."""
    from PIL import Image
    arr = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    return [Image.fromarray(a.numpy(), mode="RGB") for a in arr]


class VLMCritic:
    def __init__(self, cfg, device=torch.device("cpu"), dtype=None):
        from transformers import AutoModelForImageTextToText, AutoProcessor
        self.cfg, self.device = cfg, device
        self.processor = load_pretrained(AutoProcessor, cfg.pretrained, "critic (vision-language model)")
        self.processor.tokenizer.padding_side = "left"          # batched generation continues every row's end
        self.model = load_pretrained(AutoModelForImageTextToText, cfg.pretrained, "critic (vision-language model)",
                                     dtype=dtype or torch.float32).to(device).eval()
        tok = self.processor.tokenizer
        self.yes, self.no = (tok(w, add_special_tokens=False).input_ids[0] for w in ("Yes", "No"))

    def _inputs(self, images: torch.Tensor, template: str, prompts: list[str]):
        texts = [template.replace("{prompt}", p) for p in prompts]
        inputs = self.processor(images=to_pil(images), text=texts, return_tensors="pt", padding=True).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        return inputs

    @torch.no_grad()
    def critique(self, images: torch.Tensor, prompts: list[str]) -> list[str]:
        """The critic's answer to the critique prompt about each image (images [B, 3, H, W] in [-1, 1])."""
        inputs = self._inputs(images, self.cfg.prompt, prompts)
        out = self.model.generate(**inputs, max_new_tokens=self.cfg.max_new_tokens, do_sample=False)
        return self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    @torch.no_grad()
    def yes_log_odds(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """[B]: logit("Yes") - logit("No") of the next token after the yes/no question."""
        logits = self.model(**self._inputs(images, self.cfg.accept, prompts)).logits[:, -1].float()
        return (logits[:, self.yes] - logits[:, self.no]).cpu()
