"""Tiny hub-style models built from configs and saved with save_pretrained (no download):
a CLIP model + processor, and a Stable Diffusion pipeline."""
from __future__ import annotations

import contextlib
import string
from pathlib import Path

import torch

TEXT_LEN = 12


def tiny_tokenizer(max_length: int = TEXT_LEN):
    """A CLIP BPE tokenizer whose vocabulary is single characters (no merges)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase + string.digits + ",.!-'":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def text_config(tok, hidden: int = 16):
    return dict(vocab_size=len(tok.get_vocab()), hidden_size=hidden, intermediate_size=2 * hidden,
                num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=TEXT_LEN,
                bos_token_id=0, eos_token_id=1, pad_token_id=1)


@contextlib.contextmanager
def float32():
    """Weights in float32 whatever the default dtype (another test module may change it)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


@contextlib.contextmanager
def one_thread(monkeypatch, *stage_modules):
    """Tiny models run fastest on one thread (and do not fight other jobs for the cores): torch here, and
    in the stages of `stage_modules`, whose setup_torch would set the job's threads."""
    from engine.stages import common
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for mod in stage_modules:
        monkeypatch.setattr(mod, "setup_torch", lambda threads=1: common.setup_torch(1))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@float32()
def save_tiny_clip(path: Path, image_size: int = 32, projection_dim: int = 8, seed: int = 0) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tok = tiny_tokenizer()
    cfg = CLIPConfig(text_config=text_config(tok),
                     vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=image_size, patch_size=8),
                     projection_dim=projection_dim, logit_scale_init_value=2.0)
    torch.manual_seed(seed)
    CLIPModel(cfg).save_pretrained(str(path))
    ip = CLIPImageProcessor(size={"shortest_edge": image_size},
                            crop_size={"height": image_size, "width": image_size})
    CLIPProcessor(image_processor=ip, tokenizer=tok).save_pretrained(str(path))
    return path


@float32()
def save_aesthetic_head(path: Path, dims=(8, 6, 4, 1), seed: int = 1) -> Path:
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    state = {}
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        state[f"layers.{2 * i}.weight"] = torch.randn(b, a, generator=g)
        state[f"layers.{2 * i}.bias"] = torch.randn(b, generator=g)
    save_file(state, str(path))
    return path


def _tiny_sd_parts(seed: int, unet_in: int):
    """(tokenizer, text encoder, UNet, VAE) of the tiny pipelines, built in this order from `seed`."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_config(tok)))
    unet = UNet2DConditionModel(sample_size=8, in_channels=unet_in, out_channels=4, block_out_channels=(16, 32),
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 16),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        latent_channels=4, norm_num_groups=8, sample_size=16)
    return tok, text_encoder, unet, vae


@float32()
def save_tiny_sd(path: Path, seed: int = 0) -> Path:
    """A Stable Diffusion pipeline at 16x16 pixels (8x8 latents), ~0.2M UNet parameters."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    tok, text_encoder, unet, vae = _tiny_sd_parts(seed, unet_in=4)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet, scheduler=scheduler,
                            safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(str(path))
    return path


@float32()
def save_tiny_ip2p(path: Path, seed: int = 0) -> Path:
    """An InstructPix2Pix pipeline at 16x16 pixels: the tiny SD parts with an 8-channel UNet input
    (noisy latents + the image's latents) and the Euler ancestral scheduler, as the published one."""
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline

    tok, text_encoder, unet, vae = _tiny_sd_parts(seed, unet_in=8)
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    StableDiffusionInstructPix2PixPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet,
                                           scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                           requires_safety_checker=False).save_pretrained(str(path))
    return path


VLM_IMAGE_TOKEN = "<image>"


@float32()
def save_tiny_vlm(path: Path, image_size: int = 16, patch_size: int = 8, seed: int = 0) -> Path:
    """A LLaVA vision-language model (CLIP vision tower, Llama text model) with a character tokenizer
    and its processor, loadable with AutoProcessor and AutoModelForImageTextToText."""
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    from engine.language import tokenizer as chars_tokenizer
    tok = chars_tokenizer.build(string.ascii_letters + string.digits + " .,;:!?'\"-\n")
    tok.add_special_tokens({"additional_special_tokens": [VLM_IMAGE_TOKEN]})
    image_token = tok.convert_tokens_to_ids(VLM_IMAGE_TOKEN)
    ip = CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=patch_size, vision_feature_select_strategy="default",
                   image_token=VLM_IMAGE_TOKEN, num_additional_image_tokens=1).save_pretrained(str(path))
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                              image_size=image_size, patch_size=patch_size)
    cfg = LlavaConfig(vision_config=vision,
                      text_config=LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                              num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                              max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                                              eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
                      image_token_index=image_token, vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(cfg).save_pretrained(str(path))
    return path
