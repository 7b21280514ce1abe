"""The spec language: pydantic models for one run's configuration and a spec file.

A *spec file* may hold lists where a scalar is expected (sweep axes) and scale
overlays; after expansion every run is validated as a :class:`RunConfig`.
Every model forbids unknown keys; ``kind`` fields select a family.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .base import NAME_PATTERN, SCALES, SCHEMA_VERSION, Name, Scalar, Scale, Strict  # noqa: F401
from .claims import Claim


# ----------------------------------------------------------------------------- data
class GaussianData(Strict):
    """x0 ~ N(mean, std^2 I) in `dim` dimensions."""
    kind: Literal["gaussian"]
    dim: int = Field(2, ge=1, le=4096)
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


class GaussianMixtureData(Strict):
    """x0 ~ sum_j w_j N(means_j 1, stds_j^2 I): isotropic components on the diagonal."""
    kind: Literal["gaussian_mixture"]
    dim: int = Field(2, ge=1, le=4096)
    means: list[float] = Field(min_length=1, max_length=64)
    stds: list[float] = Field(min_length=1, max_length=64)
    weights: list[Annotated[float, Field(gt=0)]] = Field(min_length=1, max_length=64)

    @field_validator("stds")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(s <= 0 for s in v):
            raise ValueError(f"every component std must be > 0 (got {v})")
        return v

    @field_validator("stds", "weights")
    @classmethod
    def _same_lengths(cls, v: list[float], info: ValidationInfo) -> list[float]:
        if "means" in info.data and len(v) != len(info.data["means"]):
            raise ValueError(f"{len(v)} {info.field_name} for {len(info.data['means'])} means: "
                             f"give one per component")
        return v


class DigitsData(Strict):
    """scikit-learn's handwritten digits (8x8, shipped with the package) in [-1, 1], fixed split."""
    kind: Literal["digits"]
    size: Literal[8, 16] = 8
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int = Field(0, ge=0)


class PromptsData(Strict):
    """Text prompts of a text-to-image family; chains sample them uniformly, evaluation cycles them."""
    kind: Literal["prompts"]
    prompts: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(min_length=1, max_length=100_000)


Data = Annotated[Union[GaussianData, GaussianMixtureData, DigitsData, PromptsData], Field(discriminator="kind")]


# ----------------------------------------------------------------------------- model
class VPProcess(Strict):
    """Variance preserving: beta(t) = beta_min + t (beta_max - beta_min), t in [0, 1]."""
    kind: Literal["vp"]
    beta_min: float = Field(0.1, gt=0)
    beta_max: float = Field(20.0, gt=0)

    @field_validator("beta_max")
    @classmethod
    def _order(cls, v: float, info: ValidationInfo) -> float:
        if v < info.data.get("beta_min", v):
            raise ValueError(f"beta_max ({v}) must be >= beta_min ({info.data['beta_min']})")
        return v


class VEProcess(Strict):
    """Variance exploding: geometric sigma from sigma_min to sigma_max, then 0 at the end."""
    kind: Literal["ve"]
    sigma_min: float = Field(0.01, gt=0)
    sigma_max: float = Field(20.0, gt=0)

    @field_validator("sigma_max")
    @classmethod
    def _order(cls, v: float, info: ValidationInfo) -> float:
        if "sigma_min" in info.data and v <= info.data["sigma_min"]:
            raise ValueError(f"sigma_max ({v}) must be > sigma_min ({info.data['sigma_min']})")
        return v


Process = Annotated[Union[VPProcess, VEProcess], Field(discriminator="kind")]


class GaussianScoreModel(Strict):
    """Exact score of the data family plus a learnable per-step affine correction."""
    kind: Literal["gaussian_score"]
    process: Process
    init_scale: float = Field(0.0, ge=0)   # std of the correction's initial values


class Pretrain(Strict):
    """DDPM epsilon-prediction pretraining of the UNet (its own stage; shared across runs)."""
    steps: int = Field(2000, ge=1, le=10_000_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    lr: float = Field(2e-3, gt=0, le=1)
    ema_decay: float = Field(0.995, ge=0, lt=1)
    train_timesteps: int = Field(1000, ge=10, le=100_000)
    beta_start: float = Field(1e-4, gt=0, lt=1)
    beta_end: float = Field(0.02, gt=0, lt=1)
    seed: int = Field(0, ge=0)


class UNetModel(Strict):
    """A class-conditional diffusers UNet2DModel (the class label is the prompt)."""
    kind: Literal["unet"]
    channels: list[Annotated[int, Field(ge=4, le=4096)]] = Field([32, 64], min_length=1, max_length=6)
    layers_per_block: int = Field(1, ge=1, le=8)
    norm_groups: int = Field(8, ge=1, le=64)
    pretrain: Pretrain = Pretrain()

    @field_validator("norm_groups")
    @classmethod
    def _groups(cls, v: int, info: ValidationInfo) -> int:
        channels = info.data.get("channels") or []
        if any(c % v for c in channels):
            raise ValueError(f"every channel count ({channels}) must be divisible by norm_groups {v}")
        return v


HUB_REVISION = r"^[A-Za-z0-9_.\-/]+$"


class Pretrained(Strict):
    """A pretrained model: a hub id (pinned to a commit with checksums by `engine fetch-models`
    in specs/models.lock.json) or a local directory (a path that exists or starts with / ./ ../ ~)."""
    id: str = Field(min_length=1, max_length=300)
    revision: str = Field("main", min_length=1, max_length=100, pattern=HUB_REVISION)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.~/\-]+", v):
            raise ValueError(f"'{v}' is neither a hub id (org/name) nor a path (letters, digits, _ . - / ~)")
        return v


class LoRA(Strict):
    """Low-rank adapters (peft) on the UNet's attention projections; only they are trained."""
    rank: int = Field(4, ge=1, le=1024)
    alpha: float = Field(4.0, gt=0)
    target_modules: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.]+$")]] = Field(
        ["to_q", "to_k", "to_v", "to_out.0"], min_length=1, max_length=64)


class StableDiffusionModel(Strict):
    """A diffusers Stable Diffusion pipeline (text-conditioned latent UNet, VAE, CLIP text encoder)
    with LoRA adapters on the UNet and classifier-free guidance."""
    kind: Literal["stable_diffusion"]
    pretrained: Pretrained
    resolution: int = Field(512, ge=8, le=4096)
    guidance_scale: float = Field(5.0, ge=1.0, le=100.0)       # 1 = no classifier-free guidance
    negative_prompt: str = Field("", max_length=1000)
    lora: LoRA = LoRA()
    precision: Literal["fp32", "bf16"] = "fp32"                 # frozen weights + autocast on GPUs; CPUs run fp32
    gradient_checkpointing: bool = False
    steps_per_backward: int = Field(1, ge=1, le=10_000)        # memory: trained steps per backward pass
    sample_batch: int = Field(32, ge=1, le=65_536)             # memory: chains per evaluation batch
    decode_batch: int = Field(8, ge=1, le=65_536)              # memory: latents per VAE decode


Model = Annotated[Union[GaussianScoreModel, UNetModel, StableDiffusionModel], Field(discriminator="kind")]


# ----------------------------------------------------------------------------- sampler
class GDDIMSampler(Strict):
    """Generalized DDIM with stochasticity lambda >= 0 (0 = ODE, 1 = DDPM)."""
    kind: Literal["gddim"]
    steps: int = Field(20, ge=1, le=10_000)
    stochasticity: float = Field(1.0, ge=0, le=1_000)


class DDIMSampler(Strict):
    """DDIM with eta in [0, 1] (eta = 1 is DDPM's posterior variance)."""
    kind: Literal["ddim"]
    steps: int = Field(20, ge=1, le=10_000)
    eta: float = Field(1.0, ge=0)

    @field_validator("eta")
    @classmethod
    def _eta_at_most_one(cls, v: float) -> float:
        if v > 1:
            raise ValueError(f"DDIM eta must be <= 1 (got {v}); its step's square root turns negative beyond 1. "
                             f"For more noise use `kind: gddim` with `stochasticity: {v}`")
        return v


Sampler = Annotated[Union[GDDIMSampler, DDIMSampler], Field(discriminator="kind")]


# ----------------------------------------------------------------------------- algorithm
class _PPO(Strict):
    """The PPO-clip settings DDPO and MixGRPO share (engine/algorithms/policy_gradient.py)."""
    epochs: int = Field(100, ge=1, le=1_000_000)
    inner_epochs: int = Field(1, ge=1, le=100)
    clip_range: float = Field(0.2, gt=0, le=10)
    adv_clip_max: float = Field(5.0, gt=0)
    kl_coef: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    advantage_sign: Literal[1, -1] = 1           # -1 minimizes the reward: a sanity check
    ratio_reduction: Literal["sum", "mean"] = "sum"   # "mean": DDPO's per-dimension log-ratio


class DDPOAlgorithm(_PPO):
    """DDPO: PPO-clip on per-step log-probability ratios of sampled trajectories."""
    kind: Literal["ddpo"]
    batch_size: int = Field(256, ge=2, le=1_000_000)
    minibatches: int = Field(1, ge=1, le=1024)
    lr: float = Field(1e-2, gt=0, le=10)
    timestep_fraction: float = Field(1.0, gt=0, le=1)
    stats_buffer: int = Field(64, ge=1)          # per-prompt running statistics (prompted families)
    stats_min_count: int = Field(16, ge=1)

    @field_validator("minibatches")
    @classmethod
    def _divisible(cls, v: int, info: ValidationInfo) -> int:
        batch = info.data.get("batch_size")
        if batch is not None and batch % v:
            raise ValueError(f"batch_size {batch} is not divisible by minibatches {v}: every minibatch "
                             f"must have the same size")
        return v


class MixGRPOAlgorithm(_PPO):
    """MixGRPO: GRPO groups per prompt; SDE (trained) steps inside a sliding window, ODE outside."""
    kind: Literal["mixgrpo"]
    prompts_per_epoch: int = Field(4, ge=1, le=100_000)
    group_size: int = Field(8, ge=2, le=4096)
    lr: float = Field(1e-4, gt=0, le=10)
    window_size: int = Field(4, ge=1, le=10_000)
    window_stride: int = Field(1, ge=1, le=10_000)
    iters_per_window: int = Field(5, ge=1, le=1_000_000)

    @property
    def batch_size(self) -> int:
        return self.prompts_per_epoch * self.group_size


Algorithm = Annotated[Union[DDPOAlgorithm, MixGRPOAlgorithm], Field(discriminator="kind")]


# ----------------------------------------------------------------------------- reward
class QuadraticReward(Strict):
    """r(x) = -|x - center|^2 (center broadcast over dimensions)."""
    kind: Literal["quadratic"]
    center: float = 0.0
    scale: float = Field(1.0, gt=0)


class Classifier(Strict):
    """A small digit classifier trained in its own stage (reward model or judge)."""
    arch: Literal["cnn", "mlp"] = "cnn"
    width: int = Field(32, ge=4, le=4096)
    steps: int = Field(600, ge=1, le=1_000_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    lr: float = Field(2e-3, gt=0, le=1)
    seed: int = Field(0, ge=0)


class ClassifierReward(Strict):
    """r(x, c) = log p(c | x) under a trained classifier (the prompt c is the class)."""
    kind: Literal["classifier"]
    model: Classifier = Classifier()


class JpegCompressibility(Strict):
    """DDPO's reward: minus the JPEG-encoded size in kB at a fixed quality."""
    kind: Literal["jpeg_compressibility"]
    quality: int = Field(95, ge=1, le=100)


class JpegIncompressibility(Strict):
    """Plus the JPEG-encoded size in kB."""
    kind: Literal["jpeg_incompressibility"]
    quality: int = Field(95, ge=1, le=100)


class AestheticReward(Strict):
    """LAION-style aesthetic score: an MLP (linear layers, safetensors) on L2-normalized CLIP image embeddings."""
    kind: Literal["aesthetic"]
    clip: Pretrained
    head: str = Field(min_length=1, max_length=500)       # path of the MLP's .safetensors file
    batch: int = Field(32, ge=1, le=65_536)

    @field_validator("head")
    @classmethod
    def _safetensors(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.~/\-]+\.safetensors", v):
            raise ValueError(f"'{v}' must be the path of a .safetensors file (weights never load from pickles; "
                             f"README: Paper scale converts LAION's .pth)")
        return v


class PickScoreReward(Strict):
    """PickScore-style reward: logit_scale * cos(CLIP image embedding, CLIP text embedding of the prompt)."""
    kind: Literal["pickscore"]
    model: Pretrained
    processor: Pretrained | None = None                    # tokenizer + image processor (default: the model's)
    batch: int = Field(32, ge=1, le=65_536)


Reward = Annotated[Union[QuadraticReward, ClassifierReward, JpegCompressibility, JpegIncompressibility,
                         AestheticReward, PickScoreReward], Field(discriminator="kind")]


# ----------------------------------------------------------------------------- evaluation
class Curve(Strict):
    """Training curve logged by the finetune stage (part of its hash)."""
    every: int = Field(10, ge=1)
    samples: int = Field(4096, ge=16, le=10_000_000)   # Monte Carlo only


class Evaluation(Strict):
    method: Literal["auto", "exact", "monte_carlo"] = "auto"
    samples: int = Field(100_000, ge=16, le=100_000_000)
    seed: int = Field(12345, ge=0)
    judge: Classifier = Classifier(arch="mlp", width=128, seed=1)   # image families only


class Resources(Strict):
    """Scheduling hints; never hashed. Snakemake's local scheduler and the SLURM profile
    read them per job (threads = CPUs of the whole job, all its processes together)."""
    threads: int = Field(2, ge=1, le=256)
    mem_mb: int = Field(2000, ge=100)
    gpus: int = Field(0, ge=0, le=64)
    runtime_min: int = Field(30, ge=1)         # time limit of the job (a batched job: the largest)
    # training processes (torchrun, data parallel): the numbers agree with 1 process up to float
    # reduction order (README, "Cluster"); only the finetune stage uses more than one
    processes: int = Field(1, ge=1, le=64)
    # save a resume checkpoint every this many training epochs (0: never); numbers do not depend on it
    checkpoint_every: int = Field(25, ge=0, le=1_000_000)


# ----------------------------------------------------------------------------- outputs
class TableOutput(Strict):
    name: Name
    caption: str = Field("", max_length=2000)
    rows: list[str] = Field(min_length=1)
    columns: list[str] = []
    metrics: list[str] = Field(min_length=1)
    where: dict[str, Scalar] = {}
    precision: int = Field(3, ge=0, le=10)


class FigureOutput(Strict):
    name: Name
    caption: str = Field("", max_length=2000)
    x: str
    y: str
    hue: str | None = None
    panel: str | None = None
    where: dict[str, Scalar] = {}


class Outputs(Strict):
    tables: list[TableOutput] = []
    figures: list[FigureOutput] = []


# ----------------------------------------------------------------------------- a run, a spec
class RunConfig(Strict):
    """Everything one run needs; the stage configs are slices of it."""
    data: Data
    model: Model
    sampler: Sampler
    algorithm: Algorithm
    reward: Reward
    curve: Curve = Curve()
    evaluation: Evaluation = Evaluation()
    resources: Resources = Resources()
    seed: int = Field(0, ge=0, le=2**31 - 1)


class SpecHeader(Strict):
    """Fields of a spec file that are not part of a run."""
    schema_version: int = SCHEMA_VERSION
    name: Name
    title: str = Field("", max_length=300)
    description: str = Field("", max_length=5000)
    paper: str = Field("", max_length=200)
    scales: dict[Scale, dict[str, Any]] = Field(min_length=1)
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] = Field([0], min_length=1, max_length=10_000)
    outputs: Outputs = Outputs()
    claims: list[Claim] = []


IMAGE_REWARDS = ("classifier", "jpeg_compressibility", "jpeg_incompressibility")
TEXT_IMAGE_REWARDS = ("aesthetic", "pickscore", "jpeg_compressibility", "jpeg_incompressibility")
FAMILIES = {   # model kind -> (data kinds, reward kinds)
    "gaussian_score": (("gaussian", "gaussian_mixture"), ("quadratic",)),
    "unet": (("digits",), IMAGE_REWARDS),
    "stable_diffusion": (("prompts",), TEXT_IMAGE_REWARDS),
}
NEEDS = {"gaussian_score": "Gaussian data need kind: gaussian_score", "unet": "digits need kind: unet",
         "stable_diffusion": "prompts need kind: stable_diffusion"}


def combination_errors(cfg: RunConfig) -> list[tuple[str, str]]:
    """Impossible combinations of otherwise valid fields, as (field.path, message)."""
    errors = []
    data_kinds, reward_kinds = FAMILIES[cfg.model.kind]
    if cfg.data.kind not in data_kinds:
        hint = next(v for k, v in NEEDS.items() if cfg.data.kind in FAMILIES[k][0])
        errors.append(("model.kind", f"model '{cfg.model.kind}' does not fit data '{cfg.data.kind}' ({hint})"))
    elif cfg.reward.kind not in reward_kinds:
        errors.append(("reward.kind", f"reward '{cfg.reward.kind}' does not fit data '{cfg.data.kind}' "
                                      f"(one of: {', '.join(reward_kinds)})"))
    if cfg.algorithm.kind == "mixgrpo":
        if cfg.model.kind == "gaussian_score":
            errors.append(("algorithm.kind", "mixgrpo needs prompts (groups per prompt): use it with the unet "
                                             "or stable_diffusion model"))
        if cfg.algorithm.window_size >= cfg.sampler.steps:
            errors.append(("algorithm.window_size", f"window_size {cfg.algorithm.window_size} must be smaller "
                                                    f"than sampler.steps {cfg.sampler.steps}"))
    if cfg.algorithm.kind in ("ddpo", "mixgrpo"):
        noise_field = "stochasticity" if cfg.sampler.kind == "gddim" else "eta"
        if getattr(cfg.sampler, noise_field) == 0:
            errors.append((f"sampler.{noise_field}",
                           "DDPO needs a stochastic training sampler (> 0): the ODE sampler has no "
                           "per-step log-probability to optimize"))
        if cfg.sampler.steps < 2:
            errors.append(("sampler.steps", "DDPO needs at least 2 sampler steps (the last step is deterministic)"))
    errors += _process_errors(cfg)
    return errors


def _process_errors(cfg: RunConfig) -> list[tuple[str, str]]:
    """Multi-process training splits every minibatch over the processes (engine/distributed.py)."""
    n = cfg.resources.processes
    if n == 1:
        return []
    if cfg.resources.gpus and n > cfg.resources.gpus:
        return [("resources.processes", f"{n} processes need at least {n} GPUs (resources.gpus is "
                                        f"{cfg.resources.gpus})")]
    alg = cfg.algorithm
    if alg.kind == "ddpo" and alg.batch_size // alg.minibatches < n:
        return [("algorithm.batch_size", f"each of the {alg.minibatches} minibatches has "
                                         f"{alg.batch_size // alg.minibatches} chains, fewer than the {n} processes")]
    if alg.kind == "mixgrpo" and alg.prompts_per_epoch * alg.group_size < n:
        return [("algorithm.prompts_per_epoch", f"an epoch's {alg.prompts_per_epoch * alg.group_size} chains "
                                                f"are fewer than the {n} processes")]
    return []


RUN_FIELDS = tuple(RunConfig.model_fields)
HEADER_FIELDS = tuple(SpecHeader.model_fields) + ("extends",)
