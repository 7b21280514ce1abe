"""CLIP-based rewards (aesthetic, PickScore) on tiny CLIP models saved with save_pretrained and
loaded through the rewards' own loading path, against a hand computation on CLIPModel outputs."""
import pytest
import torch

from engine.errors import EngineError
from engine.rewards import build
from engine.rewards.aesthetic_kind import AestheticReward
from engine.rewards.pickscore_kind import PickScoreReward

from .tiny_models import save_aesthetic_head, save_tiny_clip

PROMPTS = ["a cat", "a dog", "a red fox", "an owl"]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "clip")


@pytest.fixture(scope="module")
def head_file(tmp_path_factory):
    return save_aesthetic_head(tmp_path_factory.mktemp("head") / "head.safetensors")


def images(n, size, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float32) * 2 - 1


def as_uint8(x):
    """What a user would hand the processor: 8-bit HWC images."""
    return [((img + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy() for img in x]


def reference(clip_dir, x, prompts):
    """CLIPModel's own forward on the processor's inputs: normalized embeddings and logits."""
    from transformers import CLIPModel, CLIPProcessor

    model, proc = CLIPModel.from_pretrained(str(clip_dir)).eval(), CLIPProcessor.from_pretrained(str(clip_dir))
    inputs = proc(text=prompts, images=as_uint8(x), padding="max_length", truncation=True,
                  max_length=proc.tokenizer.model_max_length, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs), inputs.pixel_values


def mlp_by_hand(head_file, e):
    from safetensors.torch import load_file
    w = load_file(str(head_file))
    for i in range(0, 6, 2):
        e = e @ w[f"layers.{i}.weight"].T + w[f"layers.{i}.bias"]
    return e[:, 0]


@pytest.mark.parametrize("size", [32, 48])          # 32: no resize (exact); 48: resized to 32
def test_aesthetic_matches_hand_computation(clip_dir, head_file, size):
    reward = build(AestheticReward(kind="aesthetic", clip={"id": str(clip_dir)}, head=str(head_file), batch=3))
    x = images(len(PROMPTS), size)
    out, _ = reference(clip_dir, x, PROMPTS)
    expected = mlp_by_hand(head_file, out.image_embeds)          # image_embeds: normalized projections
    got = reward(x)
    assert got.shape == (len(PROMPTS),)
    tol = 1e-5 if size == 32 else 2e-2 * expected.abs().max().item()
    torch.testing.assert_close(got, expected, atol=tol, rtol=0)
    assert got.std() > 0                                          # not a constant


@pytest.mark.parametrize("size", [32, 48])
def test_pickscore_matches_hand_computation(clip_dir, size):
    reward = build(PickScoreReward(kind="pickscore", model={"id": str(clip_dir)}, batch=3))
    x = images(len(PROMPTS), size, seed=1)
    out, _ = reference(clip_dir, x, PROMPTS)
    expected = out.logits_per_image.diag()                        # logit_scale.exp() * cos(image_i, text_i)
    got = reward(x, PROMPTS)
    tol = 1e-5 if size == 32 else 2e-2 * expected.abs().max().item()
    torch.testing.assert_close(got, expected, atol=tol, rtol=0)
    swapped = reward(x, PROMPTS[::-1])                            # the prompt matters
    assert not torch.allclose(swapped, got)


def test_preprocessing_matches_the_processor(clip_dir):
    from transformers import CLIPProcessor

    from engine.rewards.clip import ClipPreprocess
    proc = CLIPProcessor.from_pretrained(str(clip_dir))
    prep = ClipPreprocess(proc.image_processor)
    x = images(3, 32, seed=2)
    same = proc(images=as_uint8(x), return_tensors="pt").pixel_values
    torch.testing.assert_close(prep(x), same, atol=1e-6, rtol=0)
    for size in (48, 20):                                         # down- and upsampling
        x = images(3, size, seed=3)
        theirs = proc(images=as_uint8(x), return_tensors="pt").pixel_values
        ours = prep(x)
        std = torch.tensor(proc.image_processor.image_std).view(1, 3, 1, 1)
        levels = ((ours - theirs) * std * 255).abs()              # difference in 8-bit levels
        off = (levels > 0.5).float().mean()
        assert levels.max() <= 2.01 and off < 0.05, (levels.max(), off)


def test_missing_models_fail_at_once_naming_them(tmp_path, head_file, clip_dir):
    missing = tmp_path / "no_such_clip"
    with pytest.raises(EngineError, match="no_such_clip"):
        build(AestheticReward(kind="aesthetic", clip={"id": str(missing)}, head=str(head_file)))
    empty = tmp_path / "empty_clip"
    empty.mkdir()
    with pytest.raises(EngineError, match="empty_clip.*could not be loaded"):
        build(PickScoreReward(kind="pickscore", model={"id": str(empty)}))
    with pytest.raises(EngineError, match="someorg/missing-clip.*not pinned.*fetch-models"):
        build(PickScoreReward(kind="pickscore", model={"id": "someorg/missing-clip"}))
    with pytest.raises(EngineError, match="nohead.safetensors"):
        build(AestheticReward(kind="aesthetic", clip={"id": str(clip_dir)}, head=str(tmp_path / "nohead.safetensors")))


def test_aesthetic_head_must_fit_the_clip_model(tmp_path, clip_dir):
    wrong = save_aesthetic_head(tmp_path / "wide.safetensors", dims=(12, 4, 1))
    with pytest.raises(EngineError, match="12-dim"):
        build(AestheticReward(kind="aesthetic", clip={"id": str(clip_dir)}, head=str(wrong)))
