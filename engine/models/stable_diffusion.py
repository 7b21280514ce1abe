"""Stable Diffusion (diffusers) as a fine-tunable policy: LoRA adapters on the UNet (peft), latent
space, text conditioning with classifier-free guidance, the VAE decoding latents for rewards.

Components load with diffusers' / transformers' `from_pretrained` from the locked snapshot of the
spec's hub id (engine/hub.py) or a local directory. The sampling grid is the scheduler's own:
`set_timesteps(steps)` on its config (SD 1.5: leading spacing with steps_offset 1, so
t = 1, 21, ..., 981 for 50 steps) on its alphas_cumprod, in the (a, s) form of the shared gDDIM
sampler, with level 0 = clean latents (abar = 1) so the last step is deterministic, as in the
digits family (engine/models/unet.py). Prompts are indices into the spec's prompt list; their
text embeddings are computed once. The policy interface is UNetPolicy's: a, s, eps, eps_ref,
prior, sample_prompts, balanced_prompts.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import EngineError
from ..hub import load_pretrained

ADAPTER_FILE = "lora.safetensors"


def load_components(model_cfg) -> dict:
    """unet, vae, text_encoder, tokenizer and scheduler of the pipeline, each with from_pretrained."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    ref = model_cfg.pretrained
    what = "Stable Diffusion pipeline"
    f32 = {"torch_dtype": torch.float32}                                # cast later for bf16 on GPUs
    return {"unet": load_pretrained(UNet2DConditionModel, ref, what, subfolder="unet", **f32),
            "vae": load_pretrained(AutoencoderKL, ref, what, subfolder="vae", **f32),
            "text_encoder": load_pretrained(CLIPTextModel, ref, what, subfolder="text_encoder", dtype=torch.float32),
            "tokenizer": load_pretrained(CLIPTokenizer, ref, what, subfolder="tokenizer"),
            "scheduler": load_pretrained(DDIMScheduler, ref, what, subfolder="scheduler")}


def sampling_grid(scheduler, steps: int):
    """(a, s, timesteps), each [steps + 1]; timesteps[k] is the UNet's t at level k (k >= 1)."""
    if scheduler.config.prediction_type != "epsilon":
        raise EngineError(f"scheduler prediction_type '{scheduler.config.prediction_type}': the gDDIM sampler "
                          f"needs an epsilon-prediction model")
    scheduler.set_timesteps(steps)
    t = scheduler.timesteps.flip(0).long()
    if len(t.unique()) != steps:
        raise EngineError(f"{steps} steps do not fit the scheduler's {scheduler.config.num_train_timesteps} "
                          f"training timesteps")
    abar = torch.cat([torch.ones(1, dtype=torch.float64), scheduler.alphas_cumprod.double()[t]])
    timesteps = torch.cat([torch.full((1,), -1, dtype=torch.int64), t])
    return abar.sqrt().float(), (1 - abar).sqrt().float(), timesteps


def encode_prompts(text_encoder, tokenizer, texts: list[str], device, chunk: int = 64) -> torch.Tensor:
    """The text encoder's last hidden states [n, L, D], as the SD pipeline conditions on them."""
    out = []
    for i in range(0, len(texts), chunk):
        ids = tokenizer(texts[i:i + chunk], padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            out.append(text_encoder(ids.to(device))[0].float())
    return torch.cat(out)


class StableDiffusionPolicy(nn.Module):
    """eps_theta(z, k, prompt indices) of the LoRA-adapted UNet with classifier-free guidance."""

    def __init__(self, unet, vae, text_encoder, tokenizer, scheduler, model_cfg, prompts: list[str], steps: int,
                 device=torch.device("cpu"), dtype=None):
        super().__init__()
        self.unet, self.vae = unet, vae
        self.prompts = list(prompts)
        self.guidance = model_cfg.guidance_scale
        self.autocast_dtype = dtype
        self.steps_per_backward = model_cfg.steps_per_backward     # read by policy_gradient.ppo_update
        self.sample_chunk = model_cfg.sample_batch                 # read by evaluation.sample_x0
        self.decode_batch = model_cfg.decode_batch
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        if model_cfg.resolution % factor:
            raise EngineError(f"model.resolution {model_cfg.resolution} is not a multiple of the VAE's "
                              f"downsampling factor {factor}")
        self.latent_shape = (unet.config.in_channels, model_cfg.resolution // factor, model_cfg.resolution // factor)
        a, s, t = sampling_grid(scheduler, steps)
        self.register_buffer("a", a)
        self.register_buffer("s", s)
        self.register_buffer("timesteps", t)
        text_encoder.to(device)
        self.register_buffer("cond", encode_prompts(text_encoder, tokenizer, self.prompts, device))
        self.register_buffer("uncond", encode_prompts(text_encoder, tokenizer, [model_cfg.negative_prompt], device))
        self.to(device)

    # -------------------------------------------------------------------- the policy interface
    def _unet(self, x, t, emb):
        with torch.autocast(device_type=x.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            return self.unet(x, t, encoder_hidden_states=emb).sample.float()

    def _guided(self, x, t, prompts):
        emb = self.cond[prompts.to(self.cond.device)]
        if self.guidance == 1.0:
            return self._unet(x, t, emb)
        n = x.shape[0]
        out = self._unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([self.uncond.expand(n, -1, -1), emb]))
        uncond, cond = out.chunk(2)
        return uncond + self.guidance * (cond - uncond)

    def eps(self, x, k, prompts):
        if isinstance(k, int):
            return self._guided(x, self.timesteps[k + 1].expand(x.shape[0]), prompts)
        S, m = x.shape[:2]                      # [S steps, m chains, ...] at step indices k [S]
        t = self.timesteps[k + 1].repeat_interleave(m)
        out = self._guided(x.reshape(S * m, *x.shape[2:]), t, prompts.repeat(S))
        return out.reshape(x.shape)

    def eps_ref(self, x, k, prompts):
        """The pretrained model: the same UNet with its adapters switched off."""
        with torch.no_grad():
            self.unet.disable_adapters()
            try:
                return self.eps(x, k, prompts)
            finally:
                self.unet.enable_adapters()

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, *self.latent_shape, generator=generator, dtype=torch.float32).to(self.a.device)

    @property
    def num_prompts(self) -> int:
        return len(self.prompts)

    def sample_prompts(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, len(self.prompts), (n,), generator=generator)

    def balanced_prompts(self, n: int) -> torch.Tensor:
        return torch.arange(n) % len(self.prompts)

    # -------------------------------------------------------------------- images, rewards, weights
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents -> images [n, 3, H, W] in [-1, 1] through the VAE."""
        out = []
        with torch.no_grad():
            for i in range(0, len(z), self.decode_batch):
                zz = (z[i:i + self.decode_batch] / self.vae.config.scaling_factor).to(self.vae.dtype)
                out.append(self.vae.decode(zz).sample.float().clamp(-1, 1))
        return torch.cat(out)

    def wrap_reward(self, reward):
        return LatentReward(self, reward)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        from peft.utils import get_peft_model_state_dict
        return {k: v.detach().float().cpu().contiguous() for k, v in get_peft_model_state_dict(self.unet).items()}

    def save_trained(self, directory) -> None:
        """The LoRA adapter only (the base weights are the pinned pretrained model)."""
        from safetensors.torch import save_file
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_file(self.adapter_state(), str(d / ADAPTER_FILE))


class LatentReward:
    """A text-to-image reward on latents: decode with the policy's VAE, prompts as strings."""

    def __init__(self, policy: StableDiffusionPolicy, reward):
        self.policy, self.reward = policy, reward

    def __call__(self, z: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        texts = [self.policy.prompts[i] for i in prompts.tolist()]
        return self.reward(self.policy.decode(z), texts).to(z.device, torch.float32)


def save_samples(policy: StableDiffusionPolicy, stds, seed: int, path, n: int = 8) -> None:
    """A row of decoded samples (prompts 0..n-1, noises fixed by `seed`) as a PNG."""
    from PIL import Image

    from ..evaluation import sample_x0
    z, _ = sample_x0(policy, stds, min(n, len(policy.prompts)), seed)
    imgs = ((policy.decode(z).cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    row = torch.cat(list(imgs), dim=2)                  # [3, H, n W]
    Image.fromarray(row.permute(1, 2, 0).numpy(), mode="RGB").save(path)


def _load_adapter(unet, directory) -> None:
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(directory) / ADAPTER_FILE
    if not path.is_file():
        raise EngineError(f"no LoRA adapter at {path}")
    state = load_file(str(path))
    result = set_peft_model_state_dict(unet, state)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    missing = [k for k in getattr(result, "missing_keys", []) or [] if "lora_" in k]
    if unexpected or missing:
        raise EngineError(f"LoRA adapter {path} does not fit the model config: "
                          f"{len(unexpected)} unexpected and {len(missing)} missing keys")


def lora_components(m, device) -> tuple[dict, torch.dtype | None]:
    """The pipeline's parts with fresh LoRA adapters on the UNet (seed torch first: their initialisation
    is random), everything else frozen; bf16 frozen weights on GPUs (the dtype, else None), the trained
    weights in fp32 under autocast. The fine-tuning and Diffusion-DPO stages share this set-up, so an
    adapter trained by one loads into the other."""
    from peft import LoraConfig

    parts = load_components(m)
    unet = parts["unet"].requires_grad_(False).eval()
    for name in ("vae", "text_encoder"):
        parts[name].requires_grad_(False).eval()
    dtype = torch.bfloat16 if (m.precision == "bf16" and device.type == "cuda") else None
    if dtype is not None:
        for name in ("unet", "vae", "text_encoder"):
            parts[name].to(dtype=dtype)
    unet.add_adapter(LoraConfig(r=m.lora.rank, lora_alpha=m.lora.alpha, target_modules=list(m.lora.target_modules),
                                init_lora_weights="gaussian"))
    for p in unet.parameters():                 # trained weights stay fp32 under autocast
        if p.requires_grad:
            p.data = p.data.float()
    if not any(p.requires_grad for p in unet.parameters()):
        raise EngineError(f"model.lora.target_modules {m.lora.target_modules} match no UNet layer")
    if m.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    return parts, dtype


def load_policy(cfg, lora_weights: str | None = None) -> StableDiffusionPolicy:
    """The policy of a run config: pretrained pipeline + fresh LoRA (or the trained adapter in
    `lora_weights`, a directory holding lora.safetensors), on this process's device."""
    from .. import distributed
    device = distributed.device()
    m = cfg.model
    parts, dtype = lora_components(m, device)
    unet = parts["unet"]
    if lora_weights is not None:
        _load_adapter(unet, lora_weights)
    policy = StableDiffusionPolicy(unet, parts["vae"], parts["text_encoder"], parts["tokenizer"], parts["scheduler"],
                                   m, cfg.data.prompts, cfg.sampler.steps, device, dtype)
    return policy



# ----------------------------------------------------------------------------- the model contract
def policy(cfg, upstream: dict, generator=None) -> StableDiffusionPolicy:
    return load_policy(cfg)


def pretrained(cfg, upstream: dict, generator=None) -> StableDiffusionPolicy:
    return load_policy(cfg)


def save_trained(p: StableDiffusionPolicy, out_dir) -> None:
    p.save_trained(out_dir / "unet")        # the LoRA adapter only


def finetuned(cfg, upstream: dict, result_dir, generator=None) -> StableDiffusionPolicy:
    return load_policy(cfg, lora_weights=str(result_dir / "unet"))
