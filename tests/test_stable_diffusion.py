"""The Stable Diffusion family on a tiny pipeline built from configs, saved with save_pretrained
and loaded back through diffusers' / transformers' from_pretrained: the scheduler grid, the
gDDIM step on it, log-probabilities on both code paths, one real LoRA DDPO step, and the
finetune and evaluate stages end to end."""
import json

import pytest
import torch

from engine.algorithms import ddpo
from engine.algorithms.policy_gradient import chain_log_probs, collect, ppo_update
from engine.spec.models import RunConfig
from engine.stages.common import build_policy_for, reward_for, sampler_stds

from .tiny_models import one_thread as single_thread, save_aesthetic_head, save_tiny_clip, save_tiny_sd

PROMPTS = ["a cat", "a dog", "an owl"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    from engine.stages import evaluate, finetune
    with single_thread(monkeypatch, finetune, evaluate):
        yield


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("sd_models")
    return {"sd": save_tiny_sd(d / "sd"), "clip": save_tiny_clip(d / "clip"),
            "head": save_aesthetic_head(d / "head.safetensors")}


def run_config(models, **algorithm):
    return RunConfig.model_validate(dict(
        data={"kind": "prompts", "prompts": PROMPTS},
        model={"kind": "stable_diffusion", "pretrained": {"id": str(models["sd"])}, "resolution": 16,
               "guidance_scale": 3.0, "lora": {"rank": 2, "alpha": 2}},
        sampler={"kind": "gddim", "steps": 3, "stochasticity": 1.0},
        algorithm={"kind": "ddpo", "epochs": 1, "batch_size": 4, "minibatches": 1, **algorithm},
        reward={"kind": "aesthetic", "clip": {"id": str(models["clip"])}, "head": str(models["head"])}))


def test_grid_and_step_are_the_schedulers(models):
    from diffusers import DDIMScheduler

    from engine.models.stable_diffusion import sampling_grid
    from engine.samplers.gddim import gddim_stds, step
    sched = DDIMScheduler.from_pretrained(str(models["sd"]), subfolder="scheduler")
    a, s, t = sampling_grid(sched, 5)
    sched.set_timesteps(5)
    assert t[1:].tolist() == sched.timesteps.flip(0).tolist()          # leading spacing + steps_offset
    torch.testing.assert_close(a[1:] ** 2, sched.alphas_cumprod[t[1:]].float())
    g = torch.Generator().manual_seed(0)
    x, eps, z = (torch.randn(2, 4, 8, 8, generator=g) for _ in range(3))
    stds = gddim_stds(a, s, 1.0)
    for k in (4, 2, 1):                     # lambda = 1 is DDIM's eta = 1 away from the last step
        ours, _ = step(x, eps, a[k + 1], s[k + 1], a[k], s[k], stds[k], z)
        theirs = sched.step(eps, int(t[k + 1]), x, eta=1.0, variance_noise=z).prev_sample
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_one_lora_ddpo_step_trains_the_adapter_only(models, tmp_path):
    cfg = run_config(models, kl_coef=0.01)
    torch.manual_seed(0)
    policy = build_policy_for(cfg, {})
    reward = reward_for(cfg, {}, policy)
    stds, _ = sampler_stds(cfg, policy)
    assert policy.latent_shape == (4, 8, 8)

    batch = collect(policy, stds, 4, torch.Generator().manual_seed(0), reward)
    assert batch.xs.shape == (4, 4, 4, 8, 8) and torch.isfinite(batch.xs).all()
    assert torch.isfinite(batch.rewards).all() and batch.rewards.std() > 0
    trained = torch.nonzero(stds > 0).flatten()
    assert len(trained) == 2 and stds[0] == 0                    # the last step is deterministic
    assert torch.isfinite(batch.logps[trained]).all()
    with torch.no_grad():                                        # the training path, vectorized over steps
        again = chain_log_probs(policy, batch.xs, trained, stds, batch.prompts)
    torch.testing.assert_close(again, batch.logps[trained], atol=1e-3, rtol=1e-5)

    before = {n: p.detach().clone() for n, p in policy.unet.named_parameters()}
    stats = []
    ddpo.train(policy, stds, reward, cfg.algorithm, torch.Generator().manual_seed(1),
               on_epoch=lambda e, st: stats.append(st))
    assert len(stats) == 1 and all(torch.isfinite(torch.tensor(stats[0][k])) for k in ("loss", "kl", "clipfrac"))
    changed = {n for n, p in policy.unet.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(".lora_B." in n for n in changed)    # B moves first (A's gradient is 0 while B = 0)
    base = [n for n, _ in policy.unet.named_parameters() if "lora_" not in n]
    assert base and not changed & set(base)                      # the pretrained weights did not move
    with torch.no_grad():                                        # the adapter now changes the prediction
        k = int(trained[-1])
        diff = policy.eps(batch.xs[k + 1], k, batch.prompts) - policy.eps_ref(batch.xs[k + 1], k, batch.prompts)
    assert diff.abs().max() > 0

    # a resume checkpoint holds the adapter (and optimizer/RNG state), not the frozen pipeline
    from safetensors import safe_open

    from engine import checkpoint
    opt = ddpo.make_optimizer(policy, cfg.algorithm)
    path = tmp_path / "ckpt.safetensors"
    checkpoint.save(path, stage="finetune", h="0" * 16, epoch=1, policy=policy, optimizer=opt,
                    generator=torch.Generator(), extra={})
    with safe_open(str(path), "pt") as f:
        saved = {k.split("/", 1)[1] for k in f.keys() if k.startswith("policy/")}
    assert saved and all("lora_" in k for k in saved)
    assert len(saved) == sum(p.requires_grad for p in policy.parameters())
    restored = build_policy_for(cfg, {})                         # a fresh adapter, then the saved one
    checkpoint.load(path, stage="finetune", h="0" * 16, policy=restored,
                    optimizer=ddpo.make_optimizer(restored, cfg.algorithm), generator=torch.Generator())
    trained_now = dict(policy.named_parameters())
    assert all(torch.equal(p, trained_now[n]) for n, p in restored.named_parameters() if p.requires_grad)


def test_chunked_backward_gives_the_one_pass_gradient(models):
    cfg = run_config(models)
    torch.manual_seed(0)
    policy = build_policy_for(cfg, {})
    reward = reward_for(cfg, {}, policy)
    stds, _ = sampler_stds(cfg, policy)
    with torch.no_grad():                                       # a non-zero adapter, so A has gradients too
        for n, p in policy.unet.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(n)))
    batch = collect(policy, stds, 4, torch.Generator().manual_seed(0), reward)
    adv = (batch.rewards - batch.rewards.mean()) / batch.rewards.std()
    steps = torch.nonzero(stds > 0).flatten()
    params = [p for p in policy.parameters() if p.requires_grad]
    grads = {}
    for chunk in (len(steps), 1):
        policy.steps_per_backward = chunk
        opt = torch.optim.SGD(params, lr=0.0)
        out = ppo_update(policy, opt, batch, adv, torch.arange(4), steps, stds, cfg.algorithm, 1, 0)
        grads[chunk] = ([p.grad.clone() for p in params], out["loss"])
    one, chunked = (torch.cat([g.flatten() for g in grads[c][0]]) for c in (len(steps), 1))
    assert one.abs().max() > 0
    torch.testing.assert_close(chunked, one, atol=1e-4 * one.abs().max().item(), rtol=0)   # float summation order
    assert abs(grads[1][1] - grads[len(steps)][1]) < 1e-4 * adv.abs().mean().item()   # ratios are 1 to ~1e-5


def test_missing_pipeline_fails_naming_it(models, tmp_path):
    from engine.errors import EngineError
    cfg = run_config(models).model_dump(mode="json")
    cfg["model"]["pretrained"] = {"id": str(tmp_path / "no_such_sd")}
    with pytest.raises(EngineError, match="no_such_sd"):
        build_policy_for(RunConfig.model_validate(cfg), {})
    cfg["model"]["pretrained"] = {"id": "someorg/missing-sd"}
    with pytest.raises(EngineError, match="someorg/missing-sd.*fetch-models"):
        build_policy_for(RunConfig.model_validate(cfg), {})


SPEC = """
name: tiny_sd
data: {{kind: prompts, prompts: [a cat, a dog, an owl]}}
model:
  kind: stable_diffusion
  pretrained: {{id: {sd}}}
  resolution: 16
  guidance_scale: 3.0
  lora: {{rank: 2, alpha: 2}}
  steps_per_backward: 1
  sample_batch: 8
sampler: {{kind: gddim, steps: 3, stochasticity: 1.0}}
algorithm: {{kind: {alg}}}
reward: {{kind: aesthetic, clip: {{id: {clip}}}, head: {head}}}
curve: {{every: 1, samples: 16}}
evaluation: {{samples: 16, seed: 5}}
resources: {{processes: {processes}}}
scales:
  smoke: {{}}
"""
ALGS = {"ddpo": "ddpo, epochs: 2, batch_size: 4, minibatches: 2",
        "mixgrpo": "mixgrpo, epochs: 2, prompts_per_epoch: 2, group_size: 2, window_size: 1, iters_per_window: 1",
        # the value net rides on the policy: its anchors decode x0_hat through the VAE and score it
        "ctrl_ppo": "ctrl_ppo, epochs: 2, batch_size: 4, minibatches: 2, value_updates: 2, value_batch: 4, value_hidden: 8"}


def make_project(tmp_path, models, alg="ddpo", processes=1):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny_sd.yaml").write_text(SPEC.format(
        sd=models["sd"], clip=models["clip"], head=models["head"], alg=ALGS[alg], processes=processes))
    from engine.plan import build_plan
    plan = build_plan("smoke", spec_dir=tmp_path / "specs")
    (run,) = plan.specs[0].runs
    return plan.run_hash(run, "finetune"), plan.run_hash(run, "evaluate")


@pytest.mark.parametrize("alg", ["ddpo", "mixgrpo", "ctrl_ppo"])
def test_finetune_and_evaluate_stages(models, tmp_path, monkeypatch, alg):
    from engine.cli import main
    monkeypatch.chdir(tmp_path)
    ft, ev = make_project(tmp_path, models, alg)
    assert main(["run", "finetune", ft, "--scale", "smoke"]) == 0
    ft_dir = tmp_path / "results" / "finetune" / ft
    assert (ft_dir / "unet" / "lora.safetensors").is_file()
    if alg == "ctrl_ppo":                    # the value net trained, and is not part of the stored adapter
        m = json.loads((ft_dir / "metrics.json").read_text())
        assert m["train"]["value_loss"] > 0 and m["reward_queries_per_epoch"] == 4
        from safetensors import safe_open
        with safe_open(str(ft_dir / "unet" / "lora.safetensors"), "pt") as f:
            assert not any("critic" in k for k in f.keys())
    curve = json.loads((ft_dir / "curve.json").read_text())
    assert [p["epoch"] for p in curve] == [0, 1, 2]
    assert main(["run", "evaluate", ev, "--scale", "smoke"]) == 0
    m = json.loads((tmp_path / "results" / "evaluate" / ev / "metrics.json").read_text())
    for k in ("reward_ode", "reward_sde", "gap", "improvement", "reward_ode_pretrained"):
        assert isinstance(m[k], float), k
    assert m["reward_ode"] != m["reward_ode_pretrained"]          # the fine-tuned adapter was loaded
    assert ("reward_window" in m) == (alg == "mixgrpo")
    from PIL import Image
    grids = [Image.open(tmp_path / "results" / "evaluate" / ev / f"samples_{w}.png") for w in ("finetuned", "pretrained")]
    assert all(g.size == (3 * 16, 16) and g.mode == "RGB" for g in grids)
    assert main(["fetch-models", "--check", "--scale", "smoke"]) == 0   # local models: nothing to pin


@pytest.mark.slow(17)
def test_torchrun_two_processes(models, tmp_path):
    """Two CPU processes (gloo) train one run; process 0 alone stores the result and manifest."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    ft, _ = make_project(tmp_path, models, processes=2)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "engine", "run", "finetune", ft, "--scale", "smoke", "--manifest", "m.json"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    stored = [d.name for d in (tmp_path / "results" / "finetune").iterdir()]
    assert stored == [ft]                                         # no scratch or duplicate results
    assert json.loads((tmp_path / "m.json").read_text())["computed"] == [ft]
    curve = json.loads((tmp_path / "results" / "finetune" / ft / "curve.json").read_text())
    assert [c["epoch"] for c in curve] == [0, 1, 2]
