"""The paper scale of Diffusion-DPO and RPO (arXiv 2503.11720) without a GPU or the hub: both specs
compile to a GPU DAG and refuse the variants images cannot run; the pairs file is read back and
checked; one Diffusion-DPO step on a tiny Stable Diffusion pipeline built from configs (the loss
against the published formula written out here, the gradient's sign under swapped pairs at
initialisation, only the adapters move, the saved adapter is what the stable_diffusion family loads);
a killed run resumes bitwise; the InstructPix2Pix editor and the vision-language critic on tiny models;
the instruction parser on fixed free-text critiques; the pairs -> sd_dpo -> evaluate stages end to end;
and two torchrun processes tune as one."""
import hashlib
import json

import pytest
import torch
import torch.nn.functional as F

from engine import hub, launch
from engine.algorithms.preference import loss_config
from engine.errors import EngineError, SpecError
from engine.imagepo import image_pairs_file, instructions, sd_dpo
from engine.imagepo.sd_rpo_pairs_kind import CriticSettings, EditorSettings
from engine.plan import build_plan
from engine.spec.base import Pretrained
from engine.spec.models import RunConfig

from .conftest import ROOT
from . import tiny_models
from .tiny_models import save_aesthetic_head, save_tiny_clip, save_tiny_ip2p, save_tiny_sd, save_tiny_vlm

PROMPTS = ["a cat", "a dog", "an owl"]
CRITIQUE = "USER: <image>\nCritique this image of {prompt}. ASSISTANT:"
ACCEPT = "USER: <image>\nIs this {prompt}? Answer Yes or No. ASSISTANT:"
PAPER_SPECS = [ROOT / "specs" / "diffusion_dpo_sd15_paper.yaml", ROOT / "specs" / "rpo_sd15_paper.yaml"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    from engine.imagepo import sd_rpo_pairs
    from engine.stages import evaluate
    with tiny_models.one_thread(monkeypatch, sd_dpo, sd_rpo_pairs, evaluate):
        yield


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("rpo_models")
    return {"sd": save_tiny_sd(d / "sd"), "ip2p": save_tiny_ip2p(d / "ip2p"), "vlm": save_tiny_vlm(d / "vlm"),
            "clip": save_tiny_clip(d / "clip"), "head": save_aesthetic_head(d / "head.safetensors")}


def write_pairs(directory, n: int = 6, seed: int = 0):
    """n pairs of random 20x24 PNGs (not square: the reader crops) in directory/pairs.jsonl, pinned."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        names = {w: f"img/{i}_{w}.png" for w in ("a", "b")}
        digests = {w: image_pairs_file.save_png(torch.rand(3, 20, 24, generator=g) * 2 - 1, directory / names[w])
                   for w in names}
        rows.append({"caption": PROMPTS[i % 3], "chosen": names["a"], "rejected": names["b"],
                     "chosen_sha256": digests["a"], "rejected_sha256": digests["b"]})
    image_pairs_file.write(directory / "pairs.jsonl", rows)
    return directory / "pairs.jsonl"


def run_config(models, variant="dpo+length_norm", **alg):
    return RunConfig.model_validate(dict(
        data={"kind": "image_pairs_file", "path": "pairs.jsonl", "n_heldout": 2, "prompts": PROMPTS},
        model={"kind": "stable_diffusion", "pretrained": {"id": str(models["sd"])}, "resolution": 16,
               "guidance_scale": 3.0, "lora": {"rank": 2, "alpha": 2}, "pairs_per_backward": 2},
        sampler={"kind": "gddim", "steps": 3, "stochasticity": 1.0},
        algorithm={"kind": "preference", "variant": variant, "beta_normalised": 50.0, **alg},
        reward={"kind": "aesthetic", "clip": {"id": str(models["clip"])}, "head": str(models["head"])}))


# ----------------------------------------------------------------------------- specs and plan
def test_both_specs_compile_to_a_gpu_dag():
    plan = build_plan("paper", files=PAPER_SPECS)
    by_spec = {s.name: s for s in plan.specs}
    assert set(by_spec) == {"diffusion_dpo_sd15_paper", "rpo_sd15_paper"}
    stages = {name: sorted(plan.instances[h].stage for h in roles.values())
              for (name, _), roles in plan.run_stages.items()}
    assert stages == {"diffusion_dpo_sd15_paper": ["evaluate", "sd_dpo"],
                      "rpo_sd15_paper": ["evaluate", "sd_dpo", "sd_rpo_pairs"]}
    for (name, _), roles in plan.run_stages.items():
        po, ev = plan.instances[roles["finetune"]], plan.instances[roles["evaluate"]]
        assert ev.config["trained_by"] == "sd_dpo" and ev.upstream == (po.hash,)
        assert ("pairs" in roles) == (name == "rpo_sd15_paper")
        if "pairs" in roles:
            pairs = plan.instances[roles["pairs"]].config
            assert po.upstream == (roles["pairs"],) and "algorithm" not in pairs and "lora" not in pairs["model"]
    jobs = {j.stage: j for j in plan.jobs.values()}
    assert launch.command(jobs["sd_dpo"]).endswith("--nproc_per_node 8 -m engine") and launch.gpus(jobs["sd_dpo"]) == 8
    assert launch.gpus(jobs["sd_rpo_pairs"]) == 1 and launch.gpus(jobs["evaluate"]) == 1
    needs = hub.merge_needs(n for s in plan.specs for r in s.runs for n in hub.run_needs(r.config))
    ids = {n.id for n in needs}
    assert {"llava-hf/llava-1.5-7b-hf", "timbrooks/instruct-pix2pix", "stable-diffusion-v1-5/stable-diffusion-v1-5",
            "yuvalkirstain/PickScore_v1"} <= ids
    assert not any(p.endswith((".bin", ".ckpt", ".pt")) for n in needs for p in n.patterns)


@pytest.mark.parametrize("variant, message", [
    ("rainbow", "'rainbow' selects components on validation runs"),
    ("dpo+length_norm+rejection", "'rejection' resamples pairs"),
    ("ipo", "images are tuned with dpo and its components")])
def test_variants_the_paper_scale_cannot_run_are_refused_where_they_are_written(tmp_path, variant, message):
    from engine.spec.resolve import validate_file
    text = PAPER_SPECS[0].read_text().replace("variant: dpo+length_norm ", f"variant: {variant} ")
    (tmp_path / "bad.yaml").write_text(text.replace("name: diffusion_dpo_sd15_paper", "name: bad"))
    with pytest.raises(SpecError) as e:
        validate_file(tmp_path / "bad.yaml")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.strip().startswith("variant:"))
    assert e.value.path == "algorithm.variant" and message in e.value.message and e.value.line == line


# ----------------------------------------------------------------------------- the pairs file
def test_the_pairs_file_is_read_back_and_checked(tmp_path):
    path = write_pairs(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    train, held = image_pairs_file.read_file(path, 2, digest)
    assert len(train) == 4 and len(held) == 2 and held[-1].caption == PROMPTS[5 % 3]
    w, l = image_pairs_file.load_images(train[:2], 8)
    assert w.shape == l.shape == (2, 3, 8, 8) and w.min() >= -1 and w.max() <= 1 and not torch.equal(w, l)
    with pytest.raises(EngineError, match="does not match the sha256 its spec states"):
        image_pairs_file.read_file(path, 2, "0" * 64)
    damaged = tmp_path / train[0].chosen.relative_to(tmp_path)
    damaged.write_bytes(damaged.read_bytes()[:-9] + b"corrupted")
    with pytest.raises(EngineError, match="does not match the sha256 its pairs file states"):
        image_pairs_file.load_images(train[:1], 8)
    for bad, what in (('{"caption": "x", "chosen": "a.png"}', r"pairs.jsonl:7: not a \{caption, chosen, rejected\}"),
                      ('{"caption": "x", "chosen": "../a.png", "rejected": "b.png"}', "without '..'"),
                      ('{"caption": "x", "chosen": "/etc/a.png", "rejected": "b.png"}', "without '..'")):
        path.write_text("".join(path.read_text().splitlines(True)[:6]) + bad + "\n")
        with pytest.raises(EngineError, match=what):
            image_pairs_file.read_file(path, 2)


# ----------------------------------------------------------------------------- one Diffusion-DPO step
def test_one_diffusion_dpo_step_on_a_tiny_sd_pipeline(models, tmp_path):
    from diffusers import DDIMScheduler
    from peft.utils import get_peft_model_state_dict

    from engine.models import stable_diffusion
    cfg = run_config(models, "dpo+length_norm+margin+contextual+sft", steps=1, batch_size=4, lr=1e-2)
    train, held = image_pairs_file.read_file(write_pairs(tmp_path), 2)
    torch.manual_seed(0)
    pipe = sd_dpo.load(cfg)
    lora = {n: p for n, p in pipe.unet.named_parameters() if p.requires_grad}
    assert lora and all("lora_" in n for n in lora)
    beta = cfg.algorithm.beta_normalised
    plain = loss_config(cfg.algorithm.model_dump(), ("length_norm",), "dpo")     # Diffusion-DPO's published loss
    z_w, z_l, emb, eps = sd_dpo.prepare(pipe, train[:3], [11, 12, 13])
    t = torch.tensor([10, 500, 990])

    def grad(a, b):
        pipe.unet.zero_grad()
        sd_dpo.pair_terms(pipe, plain, a, b, emb, t, eps)[0].mean().backward()
        return torch.cat([p.grad.flatten() for p in lora.values()])
    g, swapped = grad(z_w, z_l), grad(z_l, z_w)            # at initialisation the policy is the reference
    assert g.abs().max() > 0
    torch.testing.assert_close(swapped, -g, rtol=0, atol=1e-5 * g.abs().max().item())
    pipe.unet.zero_grad()

    with torch.no_grad():                                  # a non-zero adapter: policy and reference differ
        for n, p in lora.items():
            if "lora_B" in n:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(n)))
        loss, stats = sd_dpo.pair_terms(pipe, plain, z_w, z_l, emb, t, eps)
        sched = DDIMScheduler.from_pretrained(str(models["sd"]), subfolder="scheduler")
        x_w, x_l = sched.add_noise(z_w, eps, t), sched.add_noise(z_l, eps, t)
        pol = [pipe.unet(x, t, encoder_hidden_states=emb).sample for x in (x_w, x_l)]
        pipe.unet.disable_adapters()
        ref = [pipe.unet(x, t, encoder_hidden_states=emb).sample for x in (x_w, x_l)]
        pipe.unet.enable_adapters()
    mse = [(e - eps).pow(2).mean(dim=(1, 2, 3)) for e in pol + ref]
    inside = -0.5 * beta * ((mse[0] - mse[1]) - (mse[2] - mse[3]))
    assert inside.abs().max() > 1e-3                        # the comparison is not at 0 = 0
    torch.testing.assert_close(loss, -F.logsigmoid(inside), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(stats["chosen_reward"] - stats["rejected_reward"], inside, rtol=1e-4, atol=1e-6)

    torch.manual_seed(0)
    pipe = sd_dpo.load(cfg)                                  # one step of the run's variant, from a fresh adapter
    before = {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}
    out = sd_dpo.train(pipe, train, cfg.algorithm.model_dump(), chunk=2, seed=0)
    assert torch.isfinite(torch.tensor(out["final_loss"])) and out["pairs_used"] == 4 and out["phi"]
    moved = {n for n, p in pipe.unet.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert moved and all(".lora_B." in n for n in moved)    # B moves first (A's gradient is 0 while B = 0)
    acc = sd_dpo.implicit_accuracy(pipe, out["cfg"], held, chunk=2, seed=1, phi=out["phi"])
    assert 0 <= acc <= 1

    sd_dpo.save_adapter(pipe.unet, tmp_path / "unet")      # the layout the stable_diffusion family loads
    loaded = stable_diffusion.finetuned(cfg, {}, tmp_path)
    mine = get_peft_model_state_dict(pipe.unet)
    theirs = loaded.adapter_state()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_a_killed_run_resumes_bitwise(models, tmp_path):
    """Two steps with a checkpoint after the first, killed, then resumed to three: the adapter and the
    loss curve of three straight steps, bit for bit (engine/checkpoint.py's resume area)."""
    from types import SimpleNamespace

    from engine import checkpoint
    cfg = run_config(models, steps=3, batch_size=4, lr=1e-2)
    train, _ = image_pairs_file.read_file(write_pairs(tmp_path), 2)
    alg = cfg.algorithm.model_dump()

    def fresh():
        torch.manual_seed(0)
        return sd_dpo.load(cfg)
    straight = fresh()
    want = sd_dpo.train(straight, train, alg, chunk=2, seed=0)
    with checkpoint.private_area(tmp_path / "resume"):
        said = []
        resume = checkpoint.Resume(SimpleNamespace(stage="sd_dpo", hash="0" * 16), 1, said.append)
        sd_dpo.train(fresh(), train, {**alg, "steps": 2}, chunk=2, seed=0, resume=resume)   # saved after step 1
        resumed = fresh()
        got = sd_dpo.train(resumed, train, alg, chunk=2, seed=0, resume=resume)
    assert any("resuming from checkpoint after epoch 1" in m for m in said)
    assert got["losses"] == want["losses"] and len(got["losses"]) == 3
    mine, theirs = dict(straight.unet.named_parameters()), dict(resumed.unet.named_parameters())
    assert all(torch.equal(p, theirs[n]) for n, p in mine.items())


# ----------------------------------------------------------------------------- editor, critic, parser
def test_the_instructpix2pix_editor_on_a_tiny_pipeline(models):
    from engine.imagepo.ip2p_editor import InstructEditor
    editor = InstructEditor(EditorSettings(pretrained=Pretrained(id=str(models["ip2p"])), steps=2))
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = editor.edit(images, ["make it red", "add a hat"], [1, 2])
    assert out.shape == images.shape and torch.isfinite(out).all() and out.min() >= -1 and out.max() <= 1
    assert not torch.equal(out, images)
    assert torch.equal(editor.edit(images, ["make it red", "add a hat"], [1, 2]), out)     # seeded


def test_the_critic_path_on_a_tiny_vision_language_model(models):
    from engine.imagepo.vlm_critic import VLMCritic
    critic = VLMCritic(CriticSettings(pretrained=Pretrained(id=str(models["vlm"])), prompt=CRITIQUE, accept=ACCEPT,
                                      max_new_tokens=6))
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    texts = critic.critique(images, ["a cat", "a very red dog"])           # prompts of different lengths
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    assert all(isinstance(instructions.parse(t), list) for t in texts)     # noise: most likely no instruction
    score = critic.yes_log_odds(images, ["a cat", "a very red dog"])
    assert score.shape == (2,) and torch.isfinite(score).all() and critic.yes != critic.no


def test_the_parser_reads_free_text_critiques():
    from engine.imagepo.sd_rpo_pairs import instruction_text
    critique = ("The image shows a cat, but the background is cluttered and the lighting is flat. "
                "Suggestion: blur the background. Make the cat's fur more orange!\nIt should have a blue sky.")
    found = instructions.parse(critique)
    assert [(i.kind, i.text) for i in found] == [("free", "blur the background"),
                                                 ("free", "make the cat's fur more orange"),
                                                 ("free", "make it have a blue sky")]
    assert instruction_text(found, 2) == "blur the background and make the cat's fur more orange"
    assert instructions.parse("A lovely photo of a dog on a beach. The colours are vivid.") == []
    assert [i.kind for i in instructions.parse("too faint; add a red hat")] == ["thicken", "free"]


# ----------------------------------------------------------------------------- the stages end to end
SPEC = """
name: tiny_rpo
data:
  kind: rpo_pairs
  prompts: [a cat, a dog]
  samples_per_prompt: 3
  n_heldout: 1
  require_gain: false
  batch_size: 4
  critic: {{pretrained: {{id: {vlm}}}, prompt: "{critique}", accept: "{accept}", max_new_tokens: 4}}
  editor: {{pretrained: {{id: {ip2p}}}, steps: 2}}
model: {{kind: stable_diffusion, pretrained: {{id: {sd}}}, resolution: 16, guidance_scale: 3.0,
        lora: {{rank: 2, alpha: 2}},
        pairs_per_backward: 2, sample_batch: 8}}
sampler: {{kind: gddim, steps: 3, stochasticity: 1.0}}
algorithm: {{kind: preference, variant: dpo+length_norm, beta_normalised: 50.0, steps: 2, batch_size: 4, lr: 1.0e-2}}
reward: {{kind: aesthetic, clip: {{id: {clip}}}, head: {head}}}
evaluation: {{samples: 16, seed: 5}}
scales:
  smoke: {{}}
"""


def test_rpo_pairs_then_diffusion_dpo_then_evaluate(models, tmp_path, monkeypatch):
    """The three stages through `engine run`; the tiny critic's text is noise, so its critiques are fixed
    here (its real path is tested above) and every edit is kept (require_gain: false)."""
    from engine.cli import main
    from engine.imagepo.vlm_critic import VLMCritic
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny_rpo.yaml").write_text(SPEC.format(
        critique=CRITIQUE.replace("\n", "\\n"), accept=ACCEPT.replace("\n", "\\n"), **models))
    monkeypatch.setattr(VLMCritic, "critique", lambda self, images, prompts: [
        "Too dark. Suggestion: brighten the image." if p == "a cat" else "Looks fine." for p in prompts])
    plan = build_plan("smoke", spec_dir=tmp_path / "specs")
    ((_, roles),) = plan.run_stages.items()
    for role, stage in (("pairs", "sd_rpo_pairs"), ("finetune", "sd_dpo"), ("evaluate", "evaluate")):
        assert main(["run", stage, roles[role], "--scale", "smoke"]) == 0, stage
    pairs_dir = tmp_path / "results" / "sd_rpo_pairs" / roles["pairs"]
    m = json.loads((pairs_dir / "metrics.json").read_text())
    assert m["images"] == 6 and m["pairs"] == 3 and m["edited_fraction"] == m["critiqued_fraction"] == 0.5
    train, held = image_pairs_file.read_file(pairs_dir / "pairs.jsonl", 1)
    assert len(train) == 2 and all(p.chosen_sha256 and p.caption == "a cat" for p in train + held)
    chosen, rejected = image_pairs_file.load_images(train, 16)          # pinned images read back
    assert chosen.shape == (2, 3, 16, 16) and not torch.equal(chosen, rejected)
    from PIL import Image
    assert Image.open(pairs_dir / "samples_edits.png").size == (3 * 16, 2 * 16)     # originals above edits
    row = json.loads((pairs_dir / "pairs.jsonl").read_text().splitlines()[0])
    assert row["instruction"] == "brighten the image" and isinstance(row["edit_seed"], int)
    po = json.loads((tmp_path / "results" / "sd_dpo" / roles["finetune"] / "metrics.json").read_text())
    assert po["pairs_used"] == 2 and 0 <= po["implicit_acc_heldout"] <= 1
    assert (tmp_path / "results" / "sd_dpo" / roles["finetune"] / "unet" / "lora.safetensors").is_file()
    ev = json.loads((tmp_path / "results" / "evaluate" / roles["evaluate"] / "metrics.json").read_text())
    assert ev["reward_ode"] != ev["reward_ode_pretrained"]             # the tuned adapter was loaded


DPO_SPEC = """
name: tiny_dpo
data: {{kind: image_pairs_file, path: pairs.jsonl, n_heldout: 3, prompts: [a cat, a dog]}}
model: {{kind: stable_diffusion, pretrained: {{id: {sd}}}, resolution: 16, guidance_scale: 3.0,
        lora: {{rank: 2, alpha: 2}},
        pairs_per_backward: 2}}
sampler: {{kind: gddim, steps: 3, stochasticity: 1.0}}
algorithm: {{kind: preference, variant: dpo+length_norm+contextual, beta_normalised: 50.0, steps: 3, batch_size: 6,
            lr: 1.0e-2}}
reward: {{kind: aesthetic, clip: {{id: {clip}}}, head: {head}}}
scales: {{smoke: {{}}}}
{resources}"""


@pytest.mark.slow(25)
def test_two_processes_tune_as_one(models, tmp_path, monkeypatch):
    """sd_dpo on a user's pairs file under torchrun (2 CPU processes, gloo: each its share of every
    minibatch, of the contextual scales and of the held-out pairs) against one process: metrics
    within 1e-4, adapter weights within 1e-3 (float32 summation order; an Adam step moves a weight by ~lr)."""
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    from engine.cli import main
    hashes = {}
    for name, res in (("one", ""), ("two", "resources: {processes: 2, threads: 2}\n")):
        root = tmp_path / name
        (root / "specs").mkdir(parents=True)
        (root / "specs" / "tiny_dpo.yaml").write_text(DPO_SPEC.format(resources=res, **models))
        write_pairs(root, n=9)
        monkeypatch.chdir(root)
        (hashes[name],) = [h for h, i in build_plan("smoke").instances.items() if i.stage == "sd_dpo"]
    assert hashes["one"] == hashes["two"]                   # resources are not hashed
    h = hashes["one"]
    monkeypatch.chdir(tmp_path / "one")
    assert main(["run", "sd_dpo", h, "--scale", "smoke"]) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "engine", "run", "sd_dpo", h, "--scale", "smoke"], cwd=tmp_path / "two", env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = (tmp_path / n / "results" / "sd_dpo" / h for n in ("one", "two"))
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert ma["pairs_used"] == mb["pairs_used"] == 6
    assert all(abs(ma[k] - mb[k]) <= 1e-4 for k in ("final_loss", "train_implicit_acc", "implicit_acc_heldout"))
    wa, wb = (load_file(str(d / "unet" / "lora.safetensors")) for d in (a, b))
    assert wa.keys() == wb.keys() and max((wa[k] - wb[k]).abs().max().item() for k in wa) <= 1e-3
