"""The model lock file, offline: `fetch` against a fake hub (a local snapshot folder), jobs
resolving a hub id to its locked snapshot in a Hugging Face cache, and checksum failures."""
import json
import shutil

import pytest
import torch

from engine import hub
from engine.cli import main
from engine.errors import EngineError
from engine.rewards import build
from engine.rewards.aesthetic_kind import AestheticReward

from .tiny_models import save_aesthetic_head, save_tiny_clip

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def cached_clip(tmp_path, monkeypatch):
    """A tiny CLIP as the hub cache would hold `tinyorg/clip` at COMMIT, and the cache in use."""
    import huggingface_hub.constants
    cache = tmp_path / "hf_cache"
    snap = cache / "models--tinyorg--clip" / "snapshots" / COMMIT
    save_tiny_clip(snap)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return snap


def fake_fetch(need_list, lock, folder, calls=None):
    def commit_of(repo, rev):
        (calls if calls is not None else []).append((repo, rev))
        return COMMIT
    return hub.fetch(need_list, lock, commit_of=commit_of, download=lambda repo, commit, patterns: str(folder),
                     log=lambda m: None)


def test_fetch_pins_commits_and_checksums(tmp_path, cached_clip):
    head = save_aesthetic_head(tmp_path / "head.safetensors")
    lock = tmp_path / "models.lock.json"
    calls = []
    needs = [hub.Need("tinyorg/clip", "main", hub.CLIP_FILES, hub.CLIP_REQUIRED), hub.Need(str(head), file=True)]
    fake_fetch(needs, lock, cached_clip, calls)
    data = json.loads(lock.read_text())
    entry = data["hub"]["tinyorg/clip@main"]
    assert calls == [("tinyorg/clip", "main")] and entry["commit"] == COMMIT
    assert entry["files"]["model.safetensors"] == hub.sha256_file(cached_clip / "model.safetensors")
    assert set(entry["files"]) >= {"config.json", "model.safetensors", "tokenizer.json"}
    assert data["files"][str(head)] == hub.sha256_file(head)
    hub.check(needs, lock, log=lambda m: None)                    # what jobs verify, offline
    calls.clear()                                                 # a commit hash is not looked up again
    fake_fetch([hub.Need("tinyorg/clip", COMMIT, hub.CLIP_FILES, hub.CLIP_REQUIRED)], lock, cached_clip, calls)
    assert calls == [] and f"tinyorg/clip@{COMMIT}" in json.loads(lock.read_text())["hub"]


def test_fetch_refuses_a_snapshot_without_safetensors(tmp_path):
    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(EngineError, match="no model.safetensors"):
        fake_fetch([hub.Need("org/binonly", "main", hub.CLIP_FILES, hub.CLIP_REQUIRED)], tmp_path / "l.json", folder)


def test_jobs_load_the_locked_snapshot_and_check_it(tmp_path, cached_clip, monkeypatch):
    head = save_aesthetic_head(tmp_path / "head.safetensors")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    fake_fetch([hub.Need("tinyorg/clip", "main", hub.CLIP_FILES, hub.CLIP_REQUIRED), hub.Need(str(head), file=True)],
               hub.LOCK, cached_clip)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    by_id = build(AestheticReward(kind="aesthetic", clip={"id": "tinyorg/clip"}, head=str(head)))
    by_path = build(AestheticReward(kind="aesthetic", clip={"id": str(cached_clip)}, head=str(head)))
    torch.testing.assert_close(by_id(x), by_path(x))
    with pytest.raises(EngineError, match="tinyorg/clip.*revision v2.*not pinned"):
        build(AestheticReward(kind="aesthetic", clip={"id": "tinyorg/clip", "revision": "v2"}, head=str(head)))
    cfg = (cached_clip / "config.json")
    cfg.write_text(cfg.read_text().replace('"projection_dim": 8', '"projection_dim": 8 '))
    with pytest.raises(EngineError, match="config.json.*does not match its sha256"):
        build(AestheticReward(kind="aesthetic", clip={"id": "tinyorg/clip"}, head=str(head)))
    head.write_bytes(head.read_bytes()[:-1] + b" ")
    with pytest.raises(EngineError, match="head.safetensors.*does not match"):
        hub.verify_local_file(str(head))
    shutil.rmtree(cached_clip)
    with pytest.raises(EngineError, match="tinyorg/clip.*not in the local Hugging Face cache"):
        hub.resolve("tinyorg/clip", "main")


def test_fetch_models_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["fetch-models"]) == 1                            # the paper-scale specs name hub models
    assert "HF_HUB_OFFLINE=0" in capsys.readouterr().err
    assert main(["fetch-models", "--check", "--lock", str(tmp_path / "none.json")]) == 1
    err = capsys.readouterr().err                                 # offline check: the first model is not pinned
    assert "black-forest-labs/FLUX.1-dev" in err and "not pinned" in err


def test_needs_of_one_model_merge():
    a = hub.Need("org/clip", "main", hub.PROCESSOR_FILES, hub.PROCESSOR_REQUIRED)
    b = hub.Need("org/clip", "main", hub.CLIP_FILES, hub.CLIP_REQUIRED)
    (m,) = hub.merge_needs([a, b, a])
    assert set(m.patterns) == set(hub.CLIP_FILES) | set(hub.PROCESSOR_FILES) and "model.safetensors" in m.required


def test_needs_of_the_paper_specs():
    from engine.plan import build_plan
    plan = build_plan("paper")
    needs = {n.key for s in plan.specs for r in s.runs for n in hub.run_needs(r.config)}
    assert {"stable-diffusion-v1-5/stable-diffusion-v1-5@main", "openai/clip-vit-large-patch14@main",
            "yuvalkirstain/PickScore_v1@main", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K@main"} <= needs
