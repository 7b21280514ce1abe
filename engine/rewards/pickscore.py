"""PickScore-style reward: image-text similarity of a CLIP model fine-tuned on preferences.

r(x, c) = exp(logit_scale) * cos(image embedding of x, text embedding of prompt c), both from
CLIPModel.get_image_features / get_text_features; prompts are strings, tokenized with the
processor's tokenizer (padded and truncated to its maximum length).
"""
from __future__ import annotations

import torch

from .clip import ClipPreprocess, batched, embedding, load_clip


class PickScoreReward:
    def __init__(self, model, processor, batch: int = 32):
        self.model, self.tokenizer, self.batch = model, processor.tokenizer, batch
        self.preprocess = ClipPreprocess(processor.image_processor)

    @classmethod
    def load(cls, cfg, device=None) -> "PickScoreReward":
        model, processor = load_clip(cfg.model, cfg.processor)
        return cls(model.to(device) if device is not None else model, processor, cfg.batch)

    def text_embeddings(self, prompts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(list(prompts), padding="max_length", truncation=True,
                             max_length=self.tokenizer.model_max_length, return_tensors="pt")
        dev = self.model.logit_scale.device
        with torch.no_grad():
            return embedding(self.model.get_text_features(input_ids=tok.input_ids.to(dev),
                                                          attention_mask=tok.attention_mask.to(dev))).float()

    def __call__(self, x: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        if len(prompts) != len(x):
            raise ValueError(f"{len(x)} images but {len(prompts)} prompts")
        dev = self.model.logit_scale.device

        def score(i, j):
            with torch.no_grad():
                pixels = self.preprocess(x[i:j]).to(dev, self.model.dtype)
                img = embedding(self.model.get_image_features(pixel_values=pixels)).float()
                txt = self.text_embeddings(prompts[i:j])
                img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
                return self.model.logit_scale.exp().float() * (img * txt).sum(-1)
        return batched(score, len(x), self.batch).to(x.device, x.dtype)


def build(cfg, upstream: dict, device=None) -> PickScoreReward:
    return PickScoreReward.load(cfg, device)
