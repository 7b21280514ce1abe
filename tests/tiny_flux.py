"""A tiny FLUX pipeline built from configs and saved with save_pretrained (no download), laid out as a
diffusers FluxPipeline snapshot: a 1+1-layer FluxTransformer2DModel with the guidance embedding of
FLUX.1-dev, a 2-block AutoencoderKL with FLUX's latent scaling and shift, a CLIP text encoder (its
pooled output) and a T5 encoder whose tokenizer is a Unigram model over single characters, with scores."""
from __future__ import annotations

import string
from pathlib import Path

import torch

from .tiny_models import float32, text_config, tiny_tokenizer

T5_LEN = 16           # the spec's model.max_sequence_length for this pipeline
LATENT_CHANNELS = 4   # 16 packed channels


def tiny_t5_tokenizer(max_length: int = T5_LEN):
    """A T5 tokenizer (transformers' tokenizers-backed T5TokenizerFast): a Unigram model with scores,
    pieces '▁' + character and the characters alone (word starts are cheaper than word middles)."""
    from transformers import T5TokenizerFast

    chars = string.ascii_lowercase + string.digits + ",.!-'"
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0)]
    vocab += [("▁" + c, -1.0) for c in chars] + [(c, -2.0) for c in chars]
    return T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=max_length)


@float32()
def save_tiny_flux(path: Path, seed: int = 0) -> Path:
    """FluxPipeline at 16x16 pixels: 8x8 latents of 4 channels, packed as 16 tokens of 16 channels."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel, T5TokenizerFast

    path = Path(path)
    tiny_t5_tokenizer().save_pretrained(str(path / "tokenizer_2"))
    t5_tok = T5TokenizerFast.from_pretrained(str(path / "tokenizer_2"))      # reloads: a Unigram model with scores
    clip_tok = tiny_tokenizer()
    torch.manual_seed(seed)
    clip = CLIPTextModel(CLIPTextConfig(**text_config(clip_tok)))
    t5 = T5EncoderModel(T5Config(vocab_size=len(t5_tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                 relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1))
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=4 * LATENT_CHANNELS, num_layers=1,
                                         num_single_layers=1, attention_head_dim=8, num_attention_heads=2,
                                         joint_attention_dim=16, pooled_projection_dim=16, guidance_embeds=True,
                                         axes_dims_rope=(2, 2, 4))
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 16),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        latent_channels=LATENT_CHANNELS, norm_num_groups=8, sample_size=16,
                        scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=clip, tokenizer=clip_tok, text_encoder_2=t5,
                 tokenizer_2=t5_tok, transformer=transformer).save_pretrained(str(path))
    return path
