"""FLUX.1-dev's paper scale without a GPU or the hub: the MixGRPO spec compiles to a torchrun GPU DAG
with the authors' window schedule; fetch-models refuses the gated model without a token; on a tiny FLUX
pipeline built from configs (tests/tiny_flux.py), the packing, grid and ODE steps are FluxPipeline's and
its scheduler's, one real MixGRPO step trains the LoRA adapters only, and the finetune and evaluate
stages run end to end."""
import json
import math
from fnmatch import fnmatch
from types import SimpleNamespace

import pytest
import torch

from engine import hub, launch
from engine.algorithms import mixgrpo
from engine.algorithms.policy_gradient import chain_log_probs, collect
from engine.cli import main
from engine.samplers import chain_step
from engine.samplers.gddim import sample_chain
from engine.spec.models import RunConfig
from engine.stages.common import build_policy_for, reward_for, sampler_stds

from .conftest import ROOT
from .tiny_flux import T5_LEN, save_tiny_flux
from .tiny_models import one_thread as single_thread, save_tiny_clip

SPEC = ROOT / "specs" / "flux_mixgrpo_pickscore_paper.yaml"
FLUX = "black-forest-labs/FLUX.1-dev"
PROMPTS = ["a cat", "a dog", "an owl"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    from engine.stages import evaluate, finetune
    with single_thread(monkeypatch, finetune, evaluate):
        yield


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("flux_models")
    return {"flux": save_tiny_flux(d / "flux"), "clip": save_tiny_clip(d / "clip")}


def model_cfg(models, shift):
    return {"kind": "flux", "pretrained": {"id": str(models["flux"])}, "resolution": 16, "shift": shift,
            "max_sequence_length": T5_LEN, "lora": {"rank": 2, "alpha": 4}}


def run_config(models, shift=3.0, **algorithm):
    return RunConfig.model_validate(dict(
        data={"kind": "prompts", "prompts": PROMPTS}, model=model_cfg(models, shift),
        sampler={"kind": "flow_sde", "steps": 4, "stochasticity": 0.7 / math.sqrt(2)},
        algorithm={"kind": "mixgrpo", "epochs": 1, "prompts_per_epoch": 2, "group_size": 2, "window_size": 2,
                   "ratio_reduction": "mean", **algorithm},
        reward={"kind": "pickscore", "model": {"id": str(models["clip"])}}))


# ----------------------------------------------------------------------------- the spec and the hub
def test_the_paper_spec_compiles_to_a_torchrun_gpu_dag():
    from engine.plan import build_plan
    plan = build_plan("paper", files=[SPEC])
    (spec,) = plan.specs
    (run,) = spec.runs
    cfg = run.config
    assert (cfg.model.kind, cfg.model.resolution, cfg.model.shift, cfg.model.guidance_scale) == ("flux", 720, 3.0, 3.5)
    assert cfg.sampler.kind == "flow_sde" and cfg.sampler.steps == 25
    assert math.isclose(math.sqrt(2) * cfg.sampler.stochasticity, 0.7, rel_tol=1e-9)        # the authors' eta
    alg = cfg.algorithm
    assert (alg.group_size, alg.window_size, alg.window_stride, alg.iters_per_window, alg.lr, alg.epochs) == \
        (12, 4, 1, 25, 1e-5, 300)
    windows = [tuple(mixgrpo.window_steps(e, alg, 25).tolist()) for e in range(1, 301)]
    assert windows[0] == (24, 23, 22, 21) and windows[25] == (23, 22, 21, 20) and len(set(windows)) == 12
    jobs = {j.stage: j for j in plan.jobs.values()}
    assert set(jobs) == {"finetune", "evaluate"}
    assert launch.command(jobs["finetune"]).endswith("--nproc_per_node 8 -m engine")
    assert launch.gpus(jobs["finetune"]) == 8
    assert launch.command(jobs["evaluate"]) == "-m engine" and launch.gpus(jobs["evaluate"]) == 1
    needs = hub.merge_needs(hub.run_needs(cfg))
    assert [(n.id, n.gated) for n in needs] == [(FLUX, True), ("laion/CLIP-ViT-H-14-laion2B-s32B-b79K", False),
                                                ("yuvalkirstain/PickScore_v1", False)]
    loads = [f for f in ("transformer/diffusion_pytorch_model-00001-of-00003.safetensors", "flux1-dev.safetensors",
                         "ae.safetensors", "text_encoder_2/model-00001-of-00002.safetensors", "vae/x.bin")
             if any(fnmatch(f, p) for p in needs[0].patterns)]
    assert loads == ["transformer/diffusion_pytorch_model-00001-of-00003.safetensors",
                     "text_encoder_2/model-00001-of-00002.safetensors"]      # not the single-file checkpoints


def test_fetch_models_refuses_the_gated_model_without_a_token(tmp_path, monkeypatch, capsys):
    """`engine fetch-models` on the spec against a fake hub: FLUX.1-dev is refused before the hub is
    asked about it, the other models are pinned; with a token it is asked for (and the token not stored)."""
    import huggingface_hub
    asked = []
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "config.json").write_text("{}")
    (snap / "model.safetensors").write_bytes(b"weights")
    monkeypatch.setattr(huggingface_hub, "model_info", lambda repo, revision=None: asked.append(repo) or
                        SimpleNamespace(sha="a" * 40))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: str(snap))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    lock = tmp_path / "lock.json"
    assert main(["fetch-models", str(SPEC), "--lock", str(lock)]) == 1
    err = capsys.readouterr().err
    assert f"'{FLUX}' is gated" in err and "HF_TOKEN" in err and FLUX not in asked
    assert sorted(json.loads(lock.read_text())["hub"]) == ["laion/CLIP-ViT-H-14-laion2B-s32B-b79K@main",
                                                           "yuvalkirstain/PickScore_v1@main"]
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert main(["fetch-models", str(SPEC), "--lock", str(lock)]) == 1     # the fake snapshot has no FLUX files
    err = capsys.readouterr().err
    assert FLUX in asked and "is gated" not in err
    assert "transformer/diffusion_pytorch_model.safetensors.index.json" in err        # safetensors shards only
    assert "hf_secret" not in lock.read_text()


# ----------------------------------------------------------------------------- FLUX's own numbers
def test_packing_grid_and_ode_are_fluxs(models):
    """The packed prior, the ODE chain from it and the decoded images are FluxPipeline's (its
    resolution-dependent shift); with the paper's constant shift 3, every Euler step is the scheduler's."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    from engine.models.flux import pack, unpack
    from engine.samplers.flow_sde import shifted_grid
    torch.manual_seed(0)
    cfg = run_config(models, shift=None)
    policy = build_policy_for(cfg, {})
    _, ode = sampler_stds(cfg, policy)
    z = torch.randn(2, 4, 8, 8)
    assert torch.equal(pack(z), FluxPipeline._pack_latents(z, 2, 4, 8, 8)) and torch.equal(unpack(pack(z), 8), z)
    pipe = FluxPipeline.from_pretrained(str(models["flux"]))
    x_T = policy.prior(3, torch.Generator().manual_seed(0))
    prompts = torch.arange(3)
    with torch.no_grad():
        ours = sample_chain(None, policy.a, policy.s, ode, x_T, None, mean_fn=chain_step(policy, prompts))["x0"]
        call = dict(height=16, width=16, num_inference_steps=4, guidance_scale=3.5, max_sequence_length=T5_LEN)
        theirs = pipe(PROMPTS, latents=x_T, output_type="latent", **call).images
        images = pipe(PROMPTS, latents=x_T, output_type="pt", **call).images
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close((policy.decode(ours) + 1) / 2, images, atol=1e-6, rtol=0)

    policy = build_policy_for(run_config(models, shift=3.0), {})
    sched = FlowMatchEulerDiscreteScheduler.from_pretrained(str(models["flux"]), subfolder="scheduler")
    sched.set_timesteps(sigmas=[1.0, 0.75, 0.5, 0.25], mu=math.log(3.0))
    assert torch.equal(policy.t.flip(0), sched.sigmas)
    torch.testing.assert_close(policy.t, shifted_grid(4, 3.0).float())       # MixGRPO's sd3_time_shift(3, t)
    x = x_T
    with torch.no_grad():
        for i, k in enumerate(range(3, -1, -1)):
            v = policy.velocity(x, k, prompts)
            step = sched.step(v, sched.timesteps[i], x).prev_sample
            mean = policy.step_mean(x, k, torch.tensor(0.0), prompts)
            torch.testing.assert_close(mean, step, atol=1e-6, rtol=0)
            x = step


@pytest.mark.parametrize("solver", ["heun", "dpmsolver2m"])
def test_second_order_ode_steps_are_the_flow_familys(models, solver):
    """MixGRPO-Flash's deterministic steps (a window, then a solver on compressed levels) are the flow_unet
    family's (tests/test_flow.py checks those against diffusers' schedulers) on FLUX's velocity."""
    from engine.models.flow_unet import FlowUNetPolicy
    from engine.samplers.second_order import OdePlan, compressed_landings
    torch.manual_seed(0)
    flux = build_policy_for(run_config(models), {})
    prompts = torch.tensor([0, 2])

    class AsUNet(torch.nn.Module):               # FLUX's velocity, called as the flow family calls its UNet
        def forward(self, x, timestep, class_labels=None):
            return SimpleNamespace(sample=flux._velocity_at(x, timestep / 1000, prompts))

    other = FlowUNetPolicy(AsUNet(), 4, 3.0, 8)
    other.t, other.a, other.s = flux.t, flux.a, flux.s
    active = torch.tensor([True, True, True, False])
    for lands in (active, compressed_landings(active, 0.4)):
        plan = OdePlan(solver, active, lands)
        x = flux.prior(2, torch.Generator().manual_seed(3))
        std = torch.tensor([0.0, 0.0, 0.0, 0.3])
        with torch.no_grad():
            ours, theirs = (sample_chain(None, p.a, p.s, std, x, torch.Generator().manual_seed(4), record=False,
                                         mean_fn=p.ode_chain(prompts, plan))["x0"] for p in (flux, other))
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_one_mixgrpo_step_trains_the_adapters_only(models):
    cfg = run_config(models, kl_coef=0.01)                  # the KL term evaluates the adapter-free reference
    torch.manual_seed(0)
    policy = build_policy_for(cfg, {})
    reward = reward_for(cfg, {}, policy)
    stds, _ = sampler_stds(cfg, policy)
    assert policy.latent_shape == (16, 16) and (stds > 0).all()

    batch = collect(policy, stds, 4, torch.Generator().manual_seed(0), reward, prompts=torch.tensor([0, 0, 1, 1]))
    assert batch.xs.shape == (5, 4, 16, 16) and torch.isfinite(batch.rewards).all() and batch.rewards.std() > 0
    with torch.no_grad():                                   # the training path, vectorized over steps
        again = chain_log_probs(policy, batch.xs, torch.arange(4), stds, batch.prompts)
    torch.testing.assert_close(again, batch.logps, atol=1e-3, rtol=1e-5)

    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    buffers = {n: b.clone() for n, b in policy.named_buffers()}
    stats = []
    mixgrpo.train(policy, stds, reward, cfg.algorithm, torch.Generator().manual_seed(1),
                  on_epoch=lambda e, st: stats.append(st))
    (st,) = stats
    assert st["window"] == [3, 2] and all(math.isfinite(st[k]) for k in ("loss", "kl", "chain_kl"))
    changed = {n for n, p in policy.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(".lora_B." in n for n in changed)      # B moves first (A's gradient is 0 while B = 0)
    frozen = [n for n in before if "lora_" not in n]
    assert len(frozen) > 50 and not changed & set(frozen)          # transformer and VAE: bitwise unchanged
    assert all(torch.equal(b, buffers[n]) for n, b in policy.named_buffers())
    trained = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n for n in trained) and "transformer" in next(iter(trained))


SPEC_TEXT = """
name: tiny_flux
data: {{kind: prompts, prompts: [a cat, a dog, an owl]}}
model: {model}
sampler: {{kind: flow_sde, steps: 4, stochasticity: 0.5}}
algorithm: {{kind: mixgrpo, epochs: 2, prompts_per_epoch: 2, group_size: 2, window_size: 2, iters_per_window: 1,
            variant: flash, ratio_reduction: mean}}
reward: {{kind: pickscore, model: {{id: {clip}}}}}
curve: {{every: 1, samples: 16}}
evaluation: {{samples: 16, seed: 5}}
scales:
  smoke: {{}}
"""


def test_finetune_and_evaluate_stages(models, tmp_path, monkeypatch):
    """MixGRPO-Flash (DPM-Solver++(2M) after the window, compressed) through `engine run`: the adapter is
    saved, reloaded and evaluated, with decoded sample rows."""
    from PIL import Image

    from engine.plan import build_plan
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny_flux.yaml").write_text(SPEC_TEXT.format(
        model=json.dumps(model_cfg(models, 3.0)), clip=models["clip"]))
    plan = build_plan("smoke", spec_dir=tmp_path / "specs")
    (run,) = plan.specs[0].runs
    ft, ev = plan.run_hash(run, "finetune"), plan.run_hash(run, "evaluate")
    assert main(["run", "finetune", ft, "--scale", "smoke"]) == 0
    assert (tmp_path / "results" / "finetune" / ft / "transformer" / "lora.safetensors").is_file()
    assert main(["run", "evaluate", ev, "--scale", "smoke"]) == 0
    out = tmp_path / "results" / "evaluate" / ev
    m = json.loads((out / "metrics.json").read_text())
    assert all(isinstance(m[k], float) for k in ("reward_ode", "reward_sde", "reward_window", "gap", "improvement"))
    assert m["reward_ode"] != m["reward_ode_pretrained"]          # the fine-tuned adapter was loaded
    assert all(Image.open(out / f"samples_{w}.png").size == (3 * 16, 16) for w in ("finetuned", "pretrained"))
