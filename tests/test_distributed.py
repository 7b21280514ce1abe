"""Multi-process training: a spec with `resources.processes: 2` makes the finetune rule start
torchrun (2 CPU processes, gloo), and the result equals the one-process run with the same
global batch within a stated tolerance. Resources are not hashed, so both runs have the same
instance hashes; every sampled noise is the same (each rank draws the whole batch's from the
run generator and keeps its rows), only float summation order differs.

Tolerances (largest absolute difference): float64 Gaussian policy 1e-9 on every number and
weight (measured 2e-15); float32 UNet 1e-3 on weights, metrics and curve (measured 1e-5 on
weights, 2e-6 on metrics). Adam bounds the UNet's: a step moves a weight by at most about lr (3e-4
here) whatever the gradient's size, so rounding in a near-zero gradient costs at most that."""
import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file

from engine.plan import build_plan

from .conftest import add_specs, copy_project, snakemake, store_copy

GAUSSIAN = """name: dp_gaussian
extends: base/gaussian.yaml
model: {{kind: gaussian_score, process: {{kind: vp}}}}
sampler: {{kind: gddim, steps: 10, stochasticity: 2.0}}
algorithm: {{epochs: 20, batch_size: 64, minibatches: 2, inner_epochs: 2}}
seeds: [0]
claims: []
scales: {{smoke: {{}}}}
{resources}"""


def numbers(obj, path=""):
    """Every number in a JSON value, by path."""
    if isinstance(obj, dict):
        return {k: v for key, val in obj.items() for k, v in numbers(val, f"{path}.{key}").items()}
    if isinstance(obj, list):
        return {k: v for i, val in enumerate(obj) for k, v in numbers(val, f"{path}[{i}]").items()}
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return {path: float(obj)}
    return {}


def json_diff(a: Path, b: Path) -> float:
    x, y = numbers(json.loads(a.read_text())), numbers(json.loads(b.read_text()))
    assert x.keys() == y.keys(), (a, sorted(x.keys() ^ y.keys()))
    return max((abs(x[k] - y[k]) for k in x), default=0.0)


def weights_diff(a: Path, b: Path) -> float:
    x, y = load_file(str(a)), load_file(str(b))
    assert x.keys() == y.keys()
    return max((x[k].double() - y[k].double()).abs().max().item() for k in x)


def finetune_hashes(project: Path, monkeypatch) -> list[str]:
    monkeypatch.chdir(project)
    return sorted(h for h, i in build_plan("smoke").instances.items() if i.stage == "finetune")


def assert_two_ranks_ran(project: Path) -> None:
    logs = list((project / "logs" / "finetune").glob("*.log"))
    assert logs and all("data parallel: 2 processes" in p.read_text() for p in logs), \
        [p.read_text()[-2000:] for p in logs]
    assert not list((project / "results").rglob(".tmp-*")) and not (project / "results" / ".resume").exists()


def test_launcher_is_torchrun_only_for_several_training_processes():
    from engine.launch import command
    from engine.plan import Job
    job = lambda stage, n: Job("0" * 16, stage, ("a",), (), "s", 2, 1000, processes=n)   # noqa: E731
    assert command(job("finetune", 1)) == "-m engine"
    assert command(job("finetune", 3)).startswith("-m torch.distributed.run --standalone ")
    assert "--nproc_per_node 3 -m engine" in command(job("finetune", 3))
    assert command(job("evaluate", 3)) == "-m engine"          # only finetune splits its work


@pytest.mark.slow(22)
def test_two_processes_equal_one_gaussian(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    for root, res in ((one, ""), (two, "resources: {threads: 2, mem_mb: 1000, processes: 2}\n")):
        root.mkdir()
        copy_project(root, specs=False)
        add_specs(root, gaussian=())
        (root / "specs" / "dp_gaussian.yaml").write_text(GAUSSIAN.format(resources=res))
        snakemake(*finetune_targets(root, monkeypatch), "--config", "scale=smoke", cwd=root)
    hashes = finetune_hashes(one, monkeypatch)
    assert hashes == finetune_hashes(two, monkeypatch)               # resources are not hashed
    assert_two_ranks_ran(two)
    assert "data parallel" not in "".join(p.read_text() for p in (one / "logs" / "finetune").glob("*.log"))
    for h in hashes:
        a, b = one / "results" / "finetune" / h, two / "results" / "finetune" / h
        assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
        diffs = (json_diff(a / "metrics.json", b / "metrics.json"), json_diff(a / "curve.json", b / "curve.json"),
                 weights_diff(a / "policy.safetensors", b / "policy.safetensors"))
        print(f"gaussian {h}: largest difference metrics {diffs[0]:.1e}, curve {diffs[1]:.1e}, weights {diffs[2]:.1e}")
        assert max(diffs) <= 1e-9, diffs
        # not trivially equal: training moved the policy away from where it started
        assert json.loads((a / "metrics.json").read_text())["improvement"] != 0.0


def finetune_targets(project: Path, monkeypatch) -> list[str]:
    """The finetune jobs' manifests: Snakemake targets that skip evaluation and outputs."""
    monkeypatch.chdir(project)
    return sorted(str(j.manifest) for j in build_plan("smoke").jobs.values() if j.stage == "finetune")


@pytest.mark.slow(51)
def test_two_processes_equal_one_unet(smoke_store, tmp_path, monkeypatch):
    """The image family (prompts, 4-d chains, float32). The one-process run, and the data,
    pretraining and reward model it shares, are the shared smoke store's (conftest.smoke_store);
    the finetune job reruns here with 2 processes."""
    spec_name = "digits_ddpo_lambda"
    one = smoke_store
    two = store_copy(smoke_store, tmp_path / "two", (f"{spec_name}.yaml",))
    monkeypatch.chdir(two)
    plan = build_plan("smoke")
    for h, inst in plan.instances.items():
        if inst.stage == "finetune":
            shutil.rmtree(two / "results" / "finetune" / h)
    for j in plan.jobs.values():
        if j.stage == "finetune":
            (two / j.manifest).unlink()
    shutil.rmtree(two / "logs")
    spec = two / "specs" / f"{spec_name}.yaml"
    spec.write_text(spec.read_text() + "resources: {threads: 2, mem_mb: 2000, processes: 2}\n")
    snakemake(*finetune_targets(two, monkeypatch), "--config", "scale=smoke", cwd=two)
    assert sorted(p.name for p in (two / "logs").iterdir()) == ["finetune"]     # nothing else reran
    assert_two_ranks_ran(two)
    hashes = finetune_hashes(two, monkeypatch)
    for h in hashes:
        a, b = one / "results" / "finetune" / h, two / "results" / "finetune" / h
        w = weights_diff(a / "unet" / "diffusion_pytorch_model.safetensors",
                         b / "unet" / "diffusion_pytorch_model.safetensors")
        m = max(json_diff(a / f, b / f) for f in ("metrics.json", "curve.json"))
        print(f"unet {h}: largest difference weights {w:.1e}, metrics and curve {m:.1e}")
        assert w <= 1e-3 and m <= 1e-3, (w, m)
        pretrain, = (u for u in plan.instances[h].upstream if plan.instances[u].stage == "pretrain")
        assert weights_diff(a / "unet" / "diffusion_pytorch_model.safetensors",
                            one / "results" / "pretrain" / pretrain / "unet" / "diffusion_pytorch_model.safetensors") > 0
                                                                                # training changed the UNet
