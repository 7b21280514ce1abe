"""Model family `latent_mlp`: compressed-sensing diffusion (arXiv 2509.03898). Sketch the data to
R^m with a Gaussian A, train a score MLP there, sample, and recover R^d samples with FISTA.
latent_dim = the data's dimension is the baseline: the same diffusion in full dimension (A = I,
no recovery). No reward, no fine-tuning; its timings are metrics."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..registry import Kind, Node, kind, register
from ..spec.base import Strict
from .declare import dump, required
from .process_spec import Process, VEProcess


class Recovery(Strict):
    """FISTA for the LASSO in the data's basis: step 1/L with L from `power_iterations` of power
    iteration, `iterations` steps, and the weight chosen from `lambdas` by the validation split's
    MSE (never by a test metric)."""
    lambdas: list[float] = Field([0.001, 0.003, 0.01, 0.03, 0.1], min_length=1, max_length=50)
    iterations: int = Field(300, ge=1, le=100_000)
    power_iterations: int = Field(100, ge=1, le=10_000)

    @model_validator(mode="after")
    def _positive(self):
        if any(not (0 < v < 1e6) for v in self.lambdas):
            raise ValueError("recovery.lambdas must lie in (0, 1e6)")
        return self


class LatentMLP(Strict):
    """A score MLP (eps-prediction, input scaled by 1/sqrt(sigma^2 + 1) on standardised latents,
    log sigma as an input) trained by denoising score matching for `train_steps` Adam steps; samples
    drawn with the run's sampler on the process's grid, in chunks of `chunk` (the timings are
    medians over chunks)."""
    kind: Literal["latent_mlp"]
    latent_dim: int = Field(ge=1, le=1_000_000)
    process: Process = VEProcess(kind="ve", sigma_min=0.01, sigma_max=50.0)
    hidden: int = Field(256, ge=1, le=65_536)
    layers: int = Field(3, ge=1, le=64)
    train_steps: int = Field(2000, ge=1, le=10_000_000)
    batch_size: int = Field(256, ge=1, le=1_000_000)
    lr: float = Field(2e-3, gt=0, le=1)
    samples: int = Field(1000, ge=2, le=10_000_000)
    chunk: int = Field(250, ge=1, le=10_000_000)
    projections: int = Field(256, ge=1, le=100_000)     # directions of the sliced W2 distance
    recovery: Recovery = Recovery()


def data_dim(cfg) -> int:
    return kind("data", cfg.data.kind).traits["dim"](cfg.data)


def rules(cfg) -> list[tuple[str, str]]:
    errors = required(cfg, ("data", "sampler"))
    if errors:
        return errors
    if kind("data", cfg.data.kind).traits.get("provides") != "signals":
        return [("data.kind", f"model 'latent_mlp' needs a data set of signals, not '{cfg.data.kind}'")]
    errors = [(room, f"model 'latent_mlp' takes no {room}") for room in ("algorithm", "reward")
              if getattr(cfg, room, None) is not None]
    d = data_dim(cfg)
    if cfg.model.latent_dim > d:
        errors.append(("model.latent_dim", f"the latent dimension ({cfg.model.latent_dim}) must be at most "
                                           f"the data's ({d}); equal is the full-dimension baseline"))
    return errors


def _nodes(cfg, m: int, prefix: str) -> list[Node]:
    model = {k: v for k, v in dump(cfg.model).items() if k not in ("latent_dim", "recovery", "samples", "chunk",
                                                                   "projections")}
    sketch = {"data": dump(cfg.data), "latent_dim": m, "seed": cfg.seed}
    uses = (("data", cfg.data.kind), ("model", "latent_mlp"))
    sample = {"sampler": dump(cfg.sampler), "samples": cfg.model.samples, "chunk": cfg.model.chunk,
              "recovery": dump(cfg.model.recovery), "seed": cfg.seed}
    return [Node(f"{prefix}sketch", "sketch", sketch, (), "spec", uses),
            Node(f"{prefix}train", "latent_train", {"model": model, "seed": cfg.seed}, (f"{prefix}sketch",), "spec", uses),
            Node(f"{prefix}sample", "latent_sample", sample, (f"{prefix}sketch", f"{prefix}train"), "spec", uses)]


def graph(cfg) -> list[Node]:
    """sketch -> latent_train -> latent_sample (sample in R^m, then recover in R^d with FISTA) ->
    csdm_evaluate, and the same chain at m = d (the
    baseline; the same instances as the m = d run's) that evaluate compares against. A shared
    instance keeps the roles of the run that planned it first, so the chain's stages read their
    upstream results by position, not by role."""
    d = data_dim(cfg)
    own = _nodes(cfg, cfg.model.latent_dim, "")
    base = _nodes(cfg, d, "full_") if cfg.model.latent_dim != d else []
    evaluate = Node("evaluate", "csdm_evaluate", {"data": dump(cfg.data), "projections": cfg.model.projections,
                                                  "seed": cfg.seed},
                    ("sketch", "train", "sample") + (("full_train", "full_sample") if base else ()), "spec",
                    (("data", cfg.data.kind), ("model", "latent_mlp")))
    return base + own + [evaluate]      # own after base: a metric both write is read from the run's own


register(Kind("model", "latent_mlp", LatentMLP, code="engine.models.latent_mlp", rules=rules, graph=graph,
              traits={"needs": "signals", "samples": "signals", "prompted": False}))
