"""Faults lose nothing: a training job killed with SIGKILL resumes from its last checkpoint and
ends bitwise equal to an uninterrupted run; a NaN or Inf stops the stage with a message naming
the spec, run, stage and epoch, keeps the last good checkpoint and writes no result."""
import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine import checkpoint
from engine.algorithms import ddpo
from engine.cli import main
from engine.plan import build_plan

from .conftest import FIXTURE_SPECS, ROOT, copy_project, engine_cmd, snakemake

SPEC = """name: {name}
extends: base/gaussian.yaml
model: {{kind: gaussian_score, process: {{kind: vp}}}}
sampler: {{kind: gddim, steps: 10, stochasticity: 2.0}}
algorithm: {{epochs: {epochs}, batch_size: 64}}
resources: {{checkpoint_every: {every}}}
seeds: [0]
claims: []
scales: {{smoke: {{}}}}
{extra}"""
OUTPUTS = ("metrics.json", "curve.json", "policy.safetensors")


def write_spec(root: Path, name="fault_run", epochs=60, every=4, extra="") -> str:
    """A one-run spec in root/specs; returns its finetune instance hash."""
    specs = root / "specs"
    (specs / "base").mkdir(parents=True, exist_ok=True)
    (specs / "base" / "gaussian.yaml").write_bytes((FIXTURE_SPECS / "base" / "gaussian.yaml").read_bytes())
    (specs / f"{name}.yaml").write_text(SPEC.format(name=name, epochs=epochs, every=every, extra=extra))
    plan = build_plan("smoke", specs)
    return next(h for h, i in plan.instances.items() if i.stage == "finetune")


def outputs(root: Path, h: str) -> dict[str, bytes]:
    return {f: (root / "results" / "finetune" / h / f).read_bytes() for f in OUTPUTS}


# ----------------------------------------------------------------------------- SIGKILL
@pytest.mark.slow(12)
def test_sigkill_mid_training_resumes_and_ends_bitwise_equal(tmp_path, monkeypatch, capsys):
    (tmp_path / "killed").mkdir()
    killed = copy_project(tmp_path / "killed", specs=False)
    h = write_spec(killed)
    ckpt = killed / checkpoint.resume_dir("finetune", h) / checkpoint.FILE
    result = killed / "results" / "finetune" / h
    manifest = killed / "results" / "jobs" / "finetune" / "job.json"
    env = {**os.environ, "PYTHONPATH": str(killed)}
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "engine", "run", "finetune", h, "--scale", "smoke",
                                 "--manifest", str(manifest)], cwd=killed, env=env, stderr=log)
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            # an output path is either absent or complete, at every moment
            assert not result.exists() or (result / "provenance.json").is_file()
            if ckpt.is_file() and checkpoint.read_epoch(ckpt) >= 8:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the job ended before it could be killed; give it more epochs"
    assert not result.exists() and not manifest.exists()            # nothing half-written at an output path
    resumed_from = checkpoint.read_epoch(ckpt)
    assert 8 <= resumed_from < 60

    rerun = engine_cmd("run", "finetune", h, "--scale", "smoke", "--manifest", str(manifest), cwd=killed)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming from checkpoint after epoch {resumed_from}" in rerun.stderr
    assert "epoch    0/" not in rerun.stderr                          # it did not start from zero
    assert manifest.is_file()
    assert not ckpt.parent.exists()                                   # resume area gone once complete
    assert [p.name for p in result.parent.iterdir()] == [h]           # no temporary directory left
    monkeypatch.chdir(killed)
    assert main(["show", h]) == 0                                     # every file matches its sha256

    # the same run, never interrupted and never checkpointed (the interval is not hashed)
    straight = tmp_path / "straight"
    assert write_spec(straight, every=0) == h
    monkeypatch.chdir(straight)
    assert main(["run", "finetune", h, "--scale", "smoke"]) == 0
    assert "checkpoint" not in capsys.readouterr().err
    assert outputs(killed, h) == outputs(straight, h)


# ----------------------------------------------------------------------------- NaN / Inf
def _poisoned_collect(fault: str, at_epoch: int):
    """ddpo.collect that corrupts the batch of epoch `at_epoch` (counting calls)."""
    calls = [0]
    real = ddpo.collect

    def collect(*args, **kwargs):
        batch = real(*args, **kwargs)
        calls[0] += 1
        if calls[0] != at_epoch:
            return batch
        if fault == "reward":
            rewards = batch.rewards.clone()
            rewards[3] = float("nan")
            return dataclasses.replace(batch, rewards=rewards)
        logps = batch.logps.clone()
        if fault == "log-probability":
            logps[2, 5] = float("-inf")
        else:   # finite but absurd sampling log-probabilities: the PPO ratio overflows in the loss
            logps[:] = -1e308
        return dataclasses.replace(batch, logps=logps)
    return collect


@pytest.mark.parametrize("fault", ["reward", "log-probability", "loss"])
def test_numerical_fault_stops_the_stage_and_keeps_the_last_checkpoint(fault, tmp_path, monkeypatch, capsys):
    h = write_spec(tmp_path, name="nan_run", epochs=10, every=2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ddpo, "collect", _poisoned_collect(fault, at_epoch=7))
    assert main(["run", "finetune", h, "--scale", "smoke", "--manifest", "results/jobs/m.json"]) == 1
    err = capsys.readouterr().err
    assert f"engine: error: finetune {h} of nan_run run 0 (seed=0) failed: NumericalFault: " \
           f"non-finite {fault} at epoch 7" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "results" / "finetune" / h).exists()      # no metrics that look valid
    assert not (tmp_path / "results" / "jobs" / "m.json").exists()
    assert list((tmp_path / "results" / "finetune").iterdir()) == []   # no temporary directory either
    ckpt = tmp_path / checkpoint.resume_dir("finetune", h) / checkpoint.FILE
    assert checkpoint.read_epoch(ckpt) == 6                             # the last good one is kept

    monkeypatch.undo()                                                  # the fault is gone: resume
    monkeypatch.chdir(tmp_path)
    assert main(["run", "finetune", h, "--scale", "smoke"]) == 0
    assert "resuming from checkpoint after epoch 6" in capsys.readouterr().err
    assert not (tmp_path / "results" / ".resume").exists()            # removed once the result is complete
    resumed = outputs(tmp_path, h)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert write_spec(fresh, name="nan_run", epochs=10, every=0) == h
    monkeypatch.chdir(fresh)
    assert main(["run", "finetune", h, "--scale", "smoke"]) == 0
    assert outputs(fresh, h) == resumed


def test_checkpoint_for_another_instance_is_ignored(tmp_path, monkeypatch, capsys):
    """A checkpoint whose metadata names another instance is never trusted."""
    h = write_spec(tmp_path, name="nan_run", epochs=4, every=2)
    monkeypatch.chdir(tmp_path)
    policy = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(policy.parameters())
    path = checkpoint.resume_dir("finetune", h) / checkpoint.FILE
    checkpoint.save(path, stage="finetune", h="0" * 16, epoch=3, policy=policy, optimizer=opt,
                    generator=torch.Generator(), extra={})
    assert main(["run", "finetune", h, "--scale", "smoke"]) == 0
    err = capsys.readouterr().err
    assert "ignoring checkpoint" in err and "resuming" not in err


@pytest.mark.slow(8)
def test_overflow_at_run_time_reaches_the_snakemake_log(tmp_path):
    """A reward that overflows (a plugin: spec values are kept in finite ranges, defect 11 of "Trust
    nothing read back"): Snakemake fails the job; its log names spec, run, stage and epoch; no
    result, manifest or paper output appears. (The plugin is loaded by the subprocesses only.)"""
    project = copy_project(tmp_path, specs=False)
    specs = project / "specs"
    (specs / "base").mkdir(parents=True, exist_ok=True)
    (specs / "base" / "gaussian.yaml").write_bytes((FIXTURE_SPECS / "base" / "gaussian.yaml").read_bytes())
    (specs / "overflow_run.yaml").write_text(SPEC.format(
        name="overflow_run", epochs=6, every=2,
        extra="reward: {kind: overflowing}\noutputs: {tables: [{name: overflow_table, rows: [seed], metrics: [gap]}]}\n"))
    env = {"ENGINE_PLUGINS": "tests.overflow_reward", "PYTHONPATH": f"{project}{os.pathsep}{ROOT}"}
    p = snakemake("--config", "scale=smoke", cwd=project, check=False, env=env)
    assert p.returncode != 0
    logs = list((project / "logs" / "finetune").glob("*.log"))
    assert len(logs) == 1 and str(logs[0].relative_to(project)) in p.stdout + p.stderr
    text = logs[0].read_text()
    assert re.search(r"engine: error: finetune [0-9a-f]{16} of overflow_run run 0 \(seed=0\) failed: NumericalFault: "
                     r"non-finite reward_ode", text) and "at epoch 0" in text, text
    assert not list((project / "results").glob("finetune/*/provenance.json"))
    assert not list(project.glob("results/jobs/**/*.json"))
    assert not (project / "paper").exists()


# ----------------------------------------------------------------------------- DDPO's running statistics
def _tiny_unet_run(tmp_path, resume_at: int | None, keep_stats: bool = True) -> dict:
    """Weights after 6 DDPO epochs of a tiny random UNet (per-prompt advantage statistics in use
    from the second epoch), straight or resumed from a checkpoint after `resume_at` epochs."""
    from engine.models.unet import UNetPolicy, build_unet
    from engine.samplers.gddim import gddim_stds
    from engine.algorithms.ddpo_kind import DDPOAlgorithm
    from engine.models.unet_kind import UNetModel

    def fresh():
        torch.manual_seed(0)
        m = UNetModel(kind="unet", channels=[8, 16])
        policy = UNetPolicy(build_unet(m, 8), m.pretrain, 4, 8)
        return policy, ddpo.make_optimizer(policy, alg), torch.Generator().manual_seed(0)

    alg = DDPOAlgorithm(kind="ddpo", epochs=6, batch_size=20, minibatches=2, lr=1e-3, stats_min_count=2,
                        stats_buffer=8)
    reward = lambda x, p: -(x.flatten(1) - p[:, None] / 10).pow(2).mean(1)      # noqa: E731
    policy, opt, gen = fresh()
    stds = gddim_stds(policy.a, policy.s, 1.0)
    state: dict = {}
    if resume_at is None:
        ddpo.train(policy, stds, reward, alg, gen, optimizer=opt, state=state)
        return policy.state_dict()
    ddpo.train(policy, stds, reward, alg.model_copy(update={"epochs": resume_at}), gen, optimizer=opt, state=state)
    assert state["advantage_stats"]                      # the statistics a resumed run needs
    path = tmp_path / "ckpt.safetensors"
    checkpoint.save(path, stage="finetune", h="0" * 16, epoch=resume_at, policy=policy, optimizer=opt,
                    generator=gen, extra={"algorithm": state if keep_stats else {}})
    policy, opt, gen = fresh()                           # a new process: nothing carried over in memory
    epoch, extra = checkpoint.load(path, stage="finetune", h="0" * 16, policy=policy, optimizer=opt, generator=gen)
    ddpo.train(policy, stds, reward, alg, gen, optimizer=opt, start_epoch=epoch, state=extra["algorithm"])
    return policy.state_dict()


@pytest.mark.slow(30)
def test_resumed_ddpo_keeps_its_per_prompt_statistics(tmp_path):
    straight = _tiny_unet_run(tmp_path, None)
    resumed = _tiny_unet_run(tmp_path, 3)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)            # bitwise
    forgetful = _tiny_unet_run(tmp_path, 3, keep_stats=False)                     # what this guards against
    assert not all(torch.equal(straight[k], forgetful[k]) for k in straight)
