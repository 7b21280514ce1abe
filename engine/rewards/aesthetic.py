"""LAION-style aesthetic reward: an MLP on L2-normalized CLIP image embeddings.

r(x) = MLP(e / |e|), e = CLIPModel.get_image_features(preprocess(x)). The MLP's weights come
from a safetensors file with keys layers.<i>.weight / layers.<i>.bias: linear layers applied in
index order with nothing between them, as in LAION's improved aesthetic predictor (its dropout
layers hold no weights). The prompt is not used.
"""
from __future__ import annotations

import torch

from ..errors import EngineError
from .clip import ClipPreprocess, batched, embedding, load_clip


class LinearStack(torch.nn.Module):
    """Linear layers from a state dict `layers.<i>.{weight,bias}`, applied in order of i."""

    def __init__(self, state: dict[str, torch.Tensor], source: str = "<state dict>"):
        super().__init__()
        idx = sorted({int(k.split(".")[1]) for k in state if k.startswith("layers.") and k.endswith(".weight")})
        unknown = [k for k in state if not (k.startswith("layers.") and k.rsplit(".", 1)[-1] in ("weight", "bias"))]
        if not idx or unknown:
            raise EngineError(f"{source}: expected keys layers.<i>.weight / layers.<i>.bias"
                              + (f", found {', '.join(sorted(unknown)[:4])}" if unknown else ""))
        self.layers = torch.nn.ModuleList()
        for i in idx:
            w = state[f"layers.{i}.weight"]
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=f"layers.{i}.bias" in state, dtype=torch.float32)
            with torch.no_grad():
                lin.weight.copy_(w)
                if lin.bias is not None:
                    lin.bias.copy_(state[f"layers.{i}.bias"])
            self.layers.append(lin)
        for a, b in zip(self.layers, self.layers[1:]):
            if a.out_features != b.in_features:
                raise EngineError(f"{source}: layer shapes do not chain ({a.out_features} -> {b.in_features})")
        if self.layers[-1].out_features != 1:
            raise EngineError(f"{source}: the last layer must have one output (has {self.layers[-1].out_features})")

    def forward(self, e):
        for lin in self.layers:
            e = lin(e)
        return e.squeeze(-1)


class AestheticReward:
    def __init__(self, model, processor, head: LinearStack, batch: int = 32):
        self.model, self.head, self.batch = model, head.eval().requires_grad_(False), batch
        self.preprocess = ClipPreprocess(processor.image_processor)
        dim = model.config.projection_dim
        if head.layers[0].in_features != dim:
            raise EngineError(f"aesthetic head takes {head.layers[0].in_features}-dim embeddings, the CLIP model "
                              f"gives {dim}")

    @classmethod
    def load(cls, cfg, device=None) -> "AestheticReward":
        from safetensors.torch import load_file

        from ..hub import verify_local_file
        model, processor = load_clip(cfg.clip)
        head = LinearStack(load_file(str(verify_local_file(cfg.head))), cfg.head)
        if device is not None:
            model, head = model.to(device), head.to(device)
        return cls(model, processor, head, cfg.batch)

    def __call__(self, x: torch.Tensor, prompts=None) -> torch.Tensor:
        dev = self.head.layers[0].weight.device

        def score(i, j):
            with torch.no_grad():
                pixels = self.preprocess(x[i:j]).to(dev, self.model.dtype)
                e = embedding(self.model.get_image_features(pixel_values=pixels)).float()
                return self.head(e / e.norm(dim=-1, keepdim=True))
        return batched(score, len(x), self.batch).to(x.device, x.dtype)


def build(cfg, upstream: dict, device=None) -> AestheticReward:
    return AestheticReward.load(cfg, device)
