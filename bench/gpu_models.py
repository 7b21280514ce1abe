"""The paper-scale architectures of bench/gpu_check.py, from their published configs, with random weights.

Nothing can be downloaded on the GPU machine, so each pipeline is a directory holding what a hub snapshot
holds except the weights: every model's config (the published values below), the scheduler's config and a
tokenizer (single characters: the token ids stay inside the published vocabularies). `random_weights`
then replaces the one place where the engine reads weights (`engine.hub.load_pretrained`, and
transformers' AutoModelForCausalLM.from_pretrained for the language family) by a build from that config
on a given device, so everything else the check runs is the engine's own family code: its LoRA set-up,
bf16 casts, gradient checkpointing, text encoding and policy.

`tiny=True` gives the same pipelines at the sizes of the test suite's tiny models (tests/tiny_models.py,
tests/tiny_flux.py), for the CPU mode. `parameter_count` builds a model on the meta device (no memory),
which is how tests/test_gpu_check.py holds the real configs against the published parameter counts.
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tiny_flux import tiny_t5_tokenizer            # noqa: E402  (character tokenizers)
from tests.tiny_models import tiny_tokenizer             # noqa: E402

# ----------------------------------------------------------------------------- published configs
# stable-diffusion-v1-5/stable-diffusion-v1-5: unet/, vae/ and text_encoder/ config.json
SD15_UNET = dict(act_fn="silu", attention_head_dim=8, block_out_channels=[320, 640, 1280, 1280],
                 center_input_sample=False, cross_attention_dim=768,
                 down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], downsample_padding=1,
                 flip_sin_to_cos=True, freq_shift=0, in_channels=4, layers_per_block=2, mid_block_scale_factor=1,
                 norm_eps=1e-5, norm_num_groups=32, out_channels=4, sample_size=64,
                 up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3)
SD15_VAE = dict(act_fn="silu", block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                in_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32, out_channels=3,
                sample_size=512, up_block_types=["UpDecoderBlock2D"] * 4, scaling_factor=0.18215)
SD15_SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                      set_alpha_to_one=False, steps_offset=1, num_train_timesteps=1000)
# openai/clip-vit-large-patch14 (SD 1.5's and FLUX's CLIP text encoder; the aesthetic reward's CLIP)
CLIP_L_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                   num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")
CLIP_L_VISION = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                     image_size=224, patch_size=14, hidden_act="quick_gelu")
CLIP_L_PROJECTION = 768
AESTHETIC_HEAD = (768, 1024, 128, 64, 16, 1)      # LAION's improved aesthetic predictor (its linear layers)
# yuvalkirstain/PickScore_v1 (CLIP ViT-H/14)
CLIP_H_TEXT = dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                   num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu")
CLIP_H_VISION = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
                     image_size=224, patch_size=14, hidden_act="gelu")
CLIP_H_PROJECTION = 1024
# black-forest-labs/FLUX.1-dev: transformer/, vae/, text_encoder_2/ (T5 v1.1 XXL encoder), scheduler/
FLUX_TRANSFORMER = dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
                        num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
                        guidance_embeds=True, axes_dims_rope=[16, 56, 56])
FLUX_VAE = dict(act_fn="silu", block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                in_channels=3, latent_channels=16, layers_per_block=2, norm_num_groups=32, out_channels=3,
                sample_size=1024, up_block_types=["UpDecoderBlock2D"] * 4, scaling_factor=0.3611,
                shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
              relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
              layer_norm_epsilon=1e-6, tie_word_embeddings=False)
FLUX_SCHEDULER = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                      base_image_seq_len=256, max_image_seq_len=4096)
# meta-llama/Meta-Llama-3-8B-Instruct
LLAMA3_8B = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192, rope_theta=500000.0,
                 rms_norm_eps=1e-5, tie_word_embeddings=False)

# the published parameter counts (tests/test_gpu_check.py holds the configs above to them)
PUBLISHED = {"sd15_unet": 859.52e6, "sd15_vae": 83.65e6, "clip_l_text": 123.06e6, "clip_l": 427.6e6,
             "clip_h": 986.1e6, "flux_transformer": 11.90e9, "t5_xxl_encoder": 4.762e9, "llama3_8b": 8.03e9}

# ----------------------------------------------------------------------------- the tiny sizes (CPU mode)
TINY_UNET = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=[16, 32], layers_per_block=1,
                 down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                 up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], cross_attention_dim=16, attention_head_dim=4,
                 norm_num_groups=8)
TINY_VAE = dict(in_channels=3, out_channels=3, block_out_channels=[8, 16], down_block_types=["DownEncoderBlock2D"] * 2,
                up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, norm_num_groups=8, sample_size=16)
TINY_TEXT = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
TINY_VISION = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                   patch_size=8)
TINY_PROJECTION = 8
TINY_HEAD = (8, 6, 4, 1)
TINY_FLUX = dict(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=8,
                 num_attention_heads=2, joint_attention_dim=16, pooled_projection_dim=16, guidance_embeds=True,
                 axes_dims_rope=[2, 2, 4])
TINY_FLUX_VAE = dict(TINY_VAE, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False,
                     use_post_quant_conv=False)
TINY_T5 = dict(d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2, relative_attention_num_buckets=8)
TINY_LLAMA = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=2, max_position_embeddings=2048)

CLIP_LEN = 77           # the CLIP tokenizers' model_max_length
T5_LEN = 512            # FLUX's max_sequence_length in specs/flux_mixgrpo_pickscore_paper.yaml
TINY_T5_LEN = 16



def cut_depth() -> None:
    """FLUX (1 + 1 blocks), T5-XXL (1 layer), Llama-3-8B (1 layer) and PickScore's CLIP (2 + 2 layers) one
    block deep at their published widths: every shape the real models meet, in a CPU's memory
    (gpu_check --shallow). Changes this module's configs for the rest of the process."""
    FLUX_TRANSFORMER.update(num_layers=1, num_single_layers=1)
    T5_XXL.update(num_layers=1)
    LLAMA3_8B.update(num_hidden_layers=1)
    CLIP_H_TEXT.update(num_hidden_layers=2)
    CLIP_H_VISION.update(num_hidden_layers=2)


# ----------------------------------------------------------------------------- writing the directories
def _diffusers_config(folder: Path, cls_name: str, config: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"_class_name": cls_name, **config}, indent=1))


def _text_config(tok, base: dict) -> dict:
    """A CLIP text config whose special ids are the character tokenizer's (the vocabulary stays published)."""
    ids = dict(bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return {**base, **ids, "vocab_size": max(base.get("vocab_size", 0), len(tok.get_vocab())),
            "max_position_embeddings": tok.model_max_length}


def write_sd15(folder: Path, tiny: bool) -> Path:
    """unet/ vae/ text_encoder/ configs, scheduler/ and tokenizer/: a Stable Diffusion 1.5 snapshot without weights."""
    from diffusers import DDIMScheduler
    from transformers import CLIPTextConfig
    tok = tiny_tokenizer(max_length=12 if tiny else CLIP_LEN)
    _diffusers_config(folder / "unet", "UNet2DConditionModel", TINY_UNET if tiny else SD15_UNET)
    _diffusers_config(folder / "vae", "AutoencoderKL", TINY_VAE if tiny else SD15_VAE)
    CLIPTextConfig(**_text_config(tok, TINY_TEXT if tiny else CLIP_L_TEXT)).save_pretrained(folder / "text_encoder")
    tok.save_pretrained(folder / "tokenizer")
    DDIMScheduler(**SD15_SCHEDULER).save_pretrained(folder / "scheduler")
    return folder


def write_clip(folder: Path, tiny: bool, which: str = "L") -> Path:
    """A CLIP model config and its processor (image size, character tokenizer): the aesthetic reward's
    ViT-L/14 or PickScore's ViT-H/14."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPProcessor
    tok = tiny_tokenizer(max_length=12 if tiny else CLIP_LEN)
    text, vision, proj = ((TINY_TEXT, TINY_VISION, TINY_PROJECTION) if tiny else
                          (CLIP_L_TEXT, CLIP_L_VISION, CLIP_L_PROJECTION) if which == "L" else
                          (CLIP_H_TEXT, CLIP_H_VISION, CLIP_H_PROJECTION))
    CLIPConfig(text_config=_text_config(tok, text), vision_config=vision, projection_dim=proj).save_pretrained(folder)
    size = vision["image_size"]
    ip = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    CLIPProcessor(image_processor=ip, tokenizer=tok).save_pretrained(folder)
    return folder


def write_aesthetic_head(path: Path, tiny: bool, seed: int = 0) -> Path:
    """LAION's aesthetic MLP as the engine reads it (layers.<i>.weight / bias), random weights."""
    from safetensors.torch import save_file
    dims = TINY_HEAD if tiny else AESTHETIC_HEAD
    g = torch.Generator().manual_seed(seed)
    state = {}
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        state[f"layers.{2 * i}.weight"] = torch.randn(b, a, generator=g) / a ** 0.5
        state[f"layers.{2 * i}.bias"] = torch.zeros(b)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def write_flux(folder: Path, tiny: bool) -> Path:
    """transformer/ vae/ text_encoder/ text_encoder_2/ configs, both tokenizers and scheduler/: FLUX.1-dev."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from transformers import CLIPTextConfig, T5Config, T5TokenizerFast
    tiny_t5_tokenizer(max_length=TINY_T5_LEN if tiny else T5_LEN).save_pretrained(folder / "tokenizer_2")
    t5_tok = T5TokenizerFast.from_pretrained(str(folder / "tokenizer_2"), use_safetensors=True)
    clip_tok = tiny_tokenizer(max_length=12 if tiny else CLIP_LEN)
    clip_tok.save_pretrained(folder / "tokenizer")
    _diffusers_config(folder / "transformer", "FluxTransformer2DModel", TINY_FLUX if tiny else FLUX_TRANSFORMER)
    _diffusers_config(folder / "vae", "AutoencoderKL", TINY_FLUX_VAE if tiny else FLUX_VAE)
    CLIPTextConfig(**_text_config(clip_tok, TINY_TEXT if tiny else CLIP_L_TEXT)).save_pretrained(folder / "text_encoder")
    t5 = {**(TINY_T5 if tiny else T5_XXL), "pad_token_id": 0, "eos_token_id": 1}
    t5["vocab_size"] = max(t5.get("vocab_size", 0), len(t5_tok))
    T5Config(**t5).save_pretrained(folder / "text_encoder_2")
    FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER).save_pretrained(folder / "scheduler")
    return folder


def write_llama(folder: Path, tiny: bool) -> Path:
    """config.json and a character tokenizer: Llama-3-8B's architecture."""
    from transformers import LlamaConfig

    from engine.language import tokenizer as chars
    tok = chars.build("".join(chr(c) for c in range(32, 127)) + "\n")
    tok.save_pretrained(folder)
    base = TINY_LLAMA if tiny else LLAMA3_8B
    LlamaConfig(**{**base, "vocab_size": max(base.get("vocab_size", 0), len(tok))},
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id).save_pretrained(folder)
    return folder


# ----------------------------------------------------------------------------- random weights
def build(cls, folder, dtype=None, device="cpu"):
    """A diffusers or transformers model of `cls` from the config in `folder`, random weights created on
    `device` ('meta': shapes only) in `dtype` (as from_pretrained with that dtype makes them: no float32
    copy first, so the build's time and memory are those of loading)."""
    import diffusers
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype or torch.float32)
    try:
        with torch.device(device):
            if issubclass(cls, diffusers.ModelMixin):
                model = cls.from_config(cls.load_config(str(folder)))
            else:
                from transformers import AutoConfig
                config = json.loads((Path(folder) / "config.json").read_text())
                config = AutoConfig.for_model(config.pop("model_type"), **config)
                model = cls._from_config(config) if hasattr(cls, "_from_config") else cls.from_config(config)
    finally:
        torch.set_default_dtype(old)
    if dtype is not None and any(p.dtype != dtype for p in model.parameters()):
        model = model.to(dtype)
    return model.eval()


def parameter_count(cls, folder) -> int:
    return sum(p.numel() for p in build(cls, folder, device="meta").parameters())


def _weighted_class(cls) -> bool:
    import diffusers
    import transformers
    return isinstance(cls, type) and issubclass(cls, (diffusers.ModelMixin, transformers.PreTrainedModel))


@contextlib.contextmanager
def random_weights(device):
    """Inside: the engine's weight loading builds each model from its directory's config on `device` with
    random weights (seed torch first); tokenizers, processors and schedulers load as they always do."""
    import importlib

    import transformers

    from engine import hub
    for name in ("engine.models.stable_diffusion", "engine.models.flux", "engine.rewards.clip",
                 "engine.language.lm_hub_po"):
        importlib.import_module(name)
    real = hub.load_pretrained

    def load_pretrained(cls, ref, what, **kwargs):
        if not _weighted_class(cls):
            return real(cls, ref, what, **kwargs)
        folder = Path(hub.resolve(ref.id, ref.revision)) / kwargs.get("subfolder", "")
        return build(cls, folder, kwargs.get("torch_dtype") or kwargs.get("dtype"), device)

    def causal_lm(path, dtype=None, **kwargs):
        return build(transformers.AutoModelForCausalLM, path, dtype, device)

    patched = [m for m in list(sys.modules.values())
               if getattr(m, "__name__", "").startswith("engine.") and getattr(m, "load_pretrained", None) is real]
    auto = transformers.AutoModelForCausalLM
    real_auto = auto.__dict__["from_pretrained"]
    for m in patched:
        m.load_pretrained = load_pretrained
    auto.from_pretrained = staticmethod(causal_lm)
    try:
        yield
    finally:
        for m in patched:
            m.load_pretrained = real
        auto.from_pretrained = real_auto
