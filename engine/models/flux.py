"""FLUX.1-dev (diffusers) as a fine-tunable rectified-flow policy: LoRA adapters on the
FluxTransformer2DModel (peft), packed latents, CLIP pooled + T5 text conditioning, the guidance
embedding of the guidance-distilled FLUX.1-dev, the VAE decoding latents for rewards.

Components load with diffusers' / transformers' `from_pretrained` from the locked snapshot of the
spec's hub id (engine/hub.py) or a local directory, as the Stable Diffusion family's do.

- Latents. The VAE's latents [C, H, W] are packed as FluxPipeline packs them: 2x2 patches become
  tokens, [H/2 * W/2, 4 C]; the chains live in that shape. The noise is drawn unpacked, then packed.
- Grid. x_t = (1 - t) x0 + t eps, the transformer predicts v = eps - x0 at timestep t (FLUX scales it
  by 1000 inside). The grid is the scheduler's own (FlowMatchEulerDiscreteScheduler, as FluxPipeline
  sets it): sigmas linspace(1, 1/steps, steps) shifted by exp(mu), then 0; mu = log(model.shift), or,
  without one, FLUX's resolution-dependent mu (calculate_shift on the packed sequence length: 0.5 at
  256 tokens to 1.15 at 4096). Kept in the (a, s) form of the other families: a = 1 - t, s = t.
- Steps follow the flow SDE (samplers/flow_sde.py; stochasticity 0 is the scheduler's Euler step);
  deterministic steps may follow a second-order solver's plan (samplers/second_order.py: Heun, or
  DPM-Solver++(2M) as MixGRPO-Flash takes the steps after its window).
- Guidance. FLUX.1-dev is guidance-distilled: `guidance_scale` enters as the guidance embedding
  (one forward pass, no negative prompt).
Prompts are indices into the spec's prompt list; their text embeddings are computed once, and the
text encoders are then released. The policy interface is FlowUNetPolicy's (engine/models/flow_unet.py).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import EngineError
from ..hub import load_pretrained
from ..samplers import flow_sde
from .stable_diffusion import ADAPTER_FILE, LatentReward, _load_adapter


def pack(z: torch.Tensor) -> torch.Tensor:
    """[n, C, H, W] -> [n, H/2 * W/2, 4 C]: each 2x2 patch a token (FluxPipeline._pack_latents)."""
    n, c, h, w = z.shape
    return z.view(n, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(n, (h // 2) * (w // 2), 4 * c)


def unpack(x: torch.Tensor, side: int) -> torch.Tensor:
    """The inverse of `pack` for square latents of `side` x `side`."""
    n, _, d = x.shape
    return x.view(n, side // 2, side // 2, d // 4, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(n, d // 4, side, side)


def image_ids(side: int) -> torch.Tensor:
    """The rotary position ids [tokens, 3] of the packed latent tokens: (0, row, column)."""
    rows, cols = torch.meshgrid(torch.arange(side // 2), torch.arange(side // 2), indexing="ij")
    return torch.stack([torch.zeros_like(rows), rows, cols], -1).reshape(-1, 3).float()


def sampling_grid(scheduler, steps: int, image_seq_len: int, shift: float | None = None) -> torch.Tensor:
    """t at levels 0..steps (t_0 = 0, t_steps = 1): the scheduler's sigmas as FluxPipeline sets them,
    shifted by `shift` (None: FLUX's resolution-dependent exp(mu))."""
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift
    c = scheduler.config
    if not c.use_dynamic_shifting or c.get("time_shift_type", "exponential") != "exponential":
        raise EngineError("the FLUX scheduler must shift its sigmas by exp(mu) (use_dynamic_shifting, exponential)")
    mu = math.log(shift) if shift is not None else calculate_shift(
        image_seq_len, c.get("base_image_seq_len", 256), c.get("max_image_seq_len", 4096),
        c.get("base_shift", 0.5), c.get("max_shift", 1.15))
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
    return scheduler.sigmas.flip(0).float()


def load_components(model_cfg, dtype=None) -> dict:
    """transformer, vae, both text encoders and tokenizers, scheduler, each with from_pretrained
    (frozen weights in `dtype` when given: bf16 on GPUs, where FLUX's 12B transformer is 24 GB)."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5TokenizerFast

    ref, what, wd = model_cfg.pretrained, "FLUX pipeline", dtype or torch.float32
    return {"transformer": load_pretrained(FluxTransformer2DModel, ref, what, subfolder="transformer", torch_dtype=wd),
            "vae": load_pretrained(AutoencoderKL, ref, what, subfolder="vae", torch_dtype=wd),
            "text_encoder": load_pretrained(CLIPTextModel, ref, what, subfolder="text_encoder", dtype=wd),
            "tokenizer": load_pretrained(CLIPTokenizer, ref, what, subfolder="tokenizer"),
            "text_encoder_2": load_pretrained(T5EncoderModel, ref, what, subfolder="text_encoder_2", dtype=wd),
            "tokenizer_2": load_pretrained(T5TokenizerFast, ref, what, subfolder="tokenizer_2"),
            "scheduler": load_pretrained(FlowMatchEulerDiscreteScheduler, ref, what, subfolder="scheduler")}


def encode_prompts(parts: dict, texts: list[str], max_length: int, device, chunk: int = 16):
    """(T5 last hidden states [n, L, D], CLIP pooled outputs [n, P]), as FluxPipeline.encode_prompt."""
    cond, pooled = [], []
    clip_tok, t5_tok = parts["tokenizer"], parts["tokenizer_2"]
    for i in range(0, len(texts), chunk):
        batch = texts[i:i + chunk]
        ids = clip_tok(batch, padding="max_length", max_length=clip_tok.model_max_length, truncation=True,
                       return_tensors="pt").input_ids
        ids_2 = t5_tok(batch, padding="max_length", max_length=max_length, truncation=True,
                       return_tensors="pt").input_ids
        with torch.no_grad():
            pooled.append(parts["text_encoder"].to(device)(ids.to(device)).pooler_output.float())
            cond.append(parts["text_encoder_2"].to(device)(ids_2.to(device))[0].float())
    return torch.cat(cond), torch.cat(pooled)


class FluxPolicy(flow_sde.FlowTransition, nn.Module):
    """v_theta(x, k, prompt indices) of the LoRA-adapted FLUX transformer on packed latents."""

    parameterisation = "velocity"

    def __init__(self, parts: dict, model_cfg, prompts: list[str], steps: int, device=torch.device("cpu"),
                 dtype=None):
        """parts: load_components' (the transformer with its adapters); the text encoders are used once."""
        super().__init__()
        transformer, vae = parts["transformer"], parts["vae"]
        self.transformer, self.vae = transformer, vae
        self.prompts = list(prompts)
        self.guidance = model_cfg.guidance_scale if transformer.config.guidance_embeds else None
        self.autocast_dtype = dtype
        self.steps_per_backward = model_cfg.steps_per_backward     # read by policy_gradient.ppo_update
        self.sample_chunk = model_cfg.sample_batch                 # read by evaluation.sample_x0
        self.decode_batch = model_cfg.decode_batch
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        if model_cfg.resolution % (2 * factor):
            raise EngineError(f"model.resolution {model_cfg.resolution} is not a multiple of {2 * factor} (the VAE's "
                              f"downsampling factor {factor}, then 2x2 packing)")
        self.side = model_cfg.resolution // factor                  # unpacked latent height = width
        self.channels = transformer.config.in_channels // 4         # VAE latent channels
        tokens = (self.side // 2) ** 2
        self.latent_shape = (tokens, 4 * self.channels)
        t = sampling_grid(parts["scheduler"], steps, tokens, model_cfg.shift)
        self.register_buffer("t", t)
        self.register_buffer("a", 1 - t)
        self.register_buffer("s", t.clone())
        self.register_buffer("img_ids", image_ids(self.side))
        self.register_buffer("txt_ids", torch.zeros(model_cfg.max_sequence_length, 3))
        cond, pooled = encode_prompts(parts, self.prompts, model_cfg.max_sequence_length, device)
        self.register_buffer("cond", cond)
        self.register_buffer("pooled", pooled)
        self.to(device)

    # -------------------------------------------------------------------- the policy interface
    def _velocity_at(self, x, t, prompts):
        """v of packed latents x [n, tokens, channels] at times t [n]."""
        p = prompts.to(self.cond.device)
        g = None if self.guidance is None else torch.full((x.shape[0],), self.guidance, device=x.device)
        with torch.autocast(device_type=x.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            out = self.transformer(hidden_states=x, timestep=t, guidance=g, pooled_projections=self.pooled[p],
                                   encoder_hidden_states=self.cond[p], txt_ids=self.txt_ids, img_ids=self.img_ids,
                                   return_dict=False)[0]
        return out.float()

    def velocity(self, x, k, prompts, reference: bool = False):
        """v at level k + 1 (the step k's start), k an int or a tensor of step indices [S] for x [S, m, ...];
        reference: the pretrained transformer (its adapters switched off)."""
        if reference:
            with torch.no_grad():
                self.transformer.disable_adapters()
                try:
                    return self.velocity(x, k, prompts)
                finally:
                    self.transformer.enable_adapters()
        if isinstance(k, int):
            return self._velocity_at(x, self.t[k + 1].expand(x.shape[0]), prompts)
        S, m = x.shape[:2]
        out = self._velocity_at(x.reshape(S * m, *x.shape[2:]), self.t[k + 1].repeat_interleave(m), prompts.repeat(S))
        return out.reshape(x.shape)

    def velocity_at(self, x, tau, prompts):
        """v at time tau (a scalar), for the deterministic steps of a solver's plan."""
        return self._velocity_at(x, tau.expand(x.shape[0]), prompts)

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.channels, self.side, self.side, generator=generator, dtype=torch.float32)
        return pack(z).to(self.t.device)

    @property
    def num_prompts(self) -> int:
        return len(self.prompts)

    def sample_prompts(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, len(self.prompts), (n,), generator=generator)

    def balanced_prompts(self, n: int) -> torch.Tensor:
        return torch.arange(n) % len(self.prompts)

    # -------------------------------------------------------------------- images, rewards, weights
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Packed latents -> images [n, 3, H, W] in [-1, 1] through the VAE (FLUX's scaling and shift)."""
        c = self.vae.config
        out = []
        with torch.no_grad():
            for i in range(0, len(x), self.decode_batch):
                z = unpack(x[i:i + self.decode_batch], self.side) / c.scaling_factor + (c.shift_factor or 0.0)
                out.append(self.vae.decode(z.to(self.vae.dtype)).sample.float().clamp(-1, 1))
        return torch.cat(out)

    def wrap_reward(self, reward):
        return LatentReward(self, reward)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        from peft.utils import get_peft_model_state_dict
        state = get_peft_model_state_dict(self.transformer)
        return {k: v.detach().float().cpu().contiguous() for k, v in state.items()}

    def save_trained(self, directory) -> None:
        """The LoRA adapter only (the base weights are the pinned pretrained model)."""
        from safetensors.torch import save_file
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_file(self.adapter_state(), str(d / ADAPTER_FILE))


def add_lora(transformer, m) -> None:
    """Fresh LoRA adapters (seed torch first: their initialisation is random) on a frozen transformer;
    the trained weights in fp32 (under autocast with bf16 frozen weights on GPUs)."""
    from peft import LoraConfig
    transformer.requires_grad_(False).eval()
    transformer.add_adapter(LoraConfig(r=m.lora.rank, lora_alpha=m.lora.alpha, init_lora_weights="gaussian",
                                       target_modules=list(m.lora.target_modules)))
    trained = [p for p in transformer.parameters() if p.requires_grad]
    if not trained:
        raise EngineError(f"model.lora.target_modules {m.lora.target_modules} match no transformer layer")
    for p in trained:
        p.data = p.data.float()
    if m.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()


def load_policy(cfg, lora_weights: str | None = None) -> FluxPolicy:
    """The policy of a run config: pretrained pipeline + fresh LoRA (or the trained adapter in
    `lora_weights`, a directory holding lora.safetensors), on this process's device."""
    from .. import distributed
    device = distributed.device()
    m = cfg.model
    dtype = torch.bfloat16 if (m.precision == "bf16" and device.type == "cuda") else None
    parts = load_components(m, dtype)
    for name in ("vae", "text_encoder", "text_encoder_2"):
        parts[name].requires_grad_(False).eval()
    add_lora(parts["transformer"], m)
    if lora_weights is not None:
        _load_adapter(parts["transformer"], lora_weights)
    return FluxPolicy(parts, m, cfg.data.prompts, cfg.sampler.steps, device, dtype)   # drops the text encoders


# ----------------------------------------------------------------------------- the model contract
def policy(cfg, upstream: dict, generator=None) -> FluxPolicy:
    return load_policy(cfg)


def pretrained(cfg, upstream: dict, generator=None) -> FluxPolicy:
    return load_policy(cfg)


def save_trained(p: FluxPolicy, out_dir) -> None:
    p.save_trained(out_dir / "transformer")        # the LoRA adapter only


def finetuned(cfg, upstream: dict, result_dir, generator=None) -> FluxPolicy:
    return load_policy(cfg, lora_weights=str(result_dir / "transformer"))
