"""`engine diff REV`: specs at a git revision (bases included) against the working tree."""
import json
import subprocess
import statistics

import pytest

from engine import store
from engine.cli import main

from .tinystore import build_store, hashes_of

BASE = """\
data: {kind: gaussian, dim: 2}
model: {kind: gaussian_score, process: {kind: vp}}
algorithm: {kind: ddpo, epochs: 4, batch_size: 32}
reward: {kind: quadratic, center: 2.0}
curve: {every: 2}
evaluation: {method: monte_carlo, samples: 2000}
"""
SPEC = """\
schema_version: 1
name: tiny
extends: base/b.yaml
sampler: {kind: gddim, steps: 10, stochasticity: 2}
seeds: [0, 1]
scales: {smoke: {}, default: {}}
outputs:
  tables: [{name: tiny_table, rows: [seed], metrics: [gap, reward_ode]}]
"""


def git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs" / "base").mkdir(parents=True)
    (tmp_path / "specs" / "base" / "b.yaml").write_text(BASE)
    plan = build_store(tmp_path, SPEC)
    git("init", "-q", cwd=tmp_path)
    git("add", "specs", cwd=tmp_path)
    git("commit", "-qm", "specs", cwd=tmp_path)
    return tmp_path, plan


def wall(stage, h):
    return store.run_record(stage, h)["wall_seconds"]


def run_diff(capsys, *args):
    capsys.readouterr()
    assert main(["diff", *args, "--scale", "smoke"]) == 0
    return capsys.readouterr().out


def test_no_change(repo, capsys):
    out = run_diff(capsys)
    assert "tiny: unchanged (2 runs)" in out and "total: 0 stage instances to compute" in out


def test_added_seed_and_a_base_edit(repo, capsys):
    root, plan = repo
    (root / "specs" / "tiny.yaml").write_text(SPEC.replace("seeds: [0, 1]", "seeds: [0, 1, 2]"))
    (root / "specs" / "base" / "b.yaml").write_text(BASE.replace("samples: 2000", "samples: 3000"))
    (root / "specs" / "other.yaml").write_text(SPEC.replace("name: tiny", "name: other")
                                               .replace("stochasticity: 2", "stochasticity: 3")
                                               .replace("tiny_table", "other_table"))
    out = run_diff(capsys)
    assert "tiny (specs/tiny.yaml): changed, 2 → 3 runs" in out
    assert "  runs      +1 added, -0 removed, ~2 changed, 0 unchanged" in out
    assert "  added     seed = 2" in out
    assert "  changed   evaluation.samples 2000 → 3000" in out
    assert "  finetune  1 to compute, 2 reused" in out              # an evaluation-only edit reuses finetune
    assert "  evaluate  3 to compute, 0 reused, 2 no longer used" in out
    assert "  outputs   regenerated: tiny_table" in out
    assert "other (specs/other.yaml): added, 0 → 2 runs" in out

    report = json.loads(run_diff(capsys, "--json"))
    tiny = next(s for s in report["specs"] if s["name"] == "tiny")
    assert tiny["stages"]["finetune"]["reused"] == hashes_of(plan, "finetune")
    assert sorted(tiny["stages"]["evaluate"]["dropped"]) == hashes_of(plan, "evaluate")
    assert tiny["changed"][0]["fields"] == {"evaluation.samples": [2000, 3000]}
    # cost: each changed evaluation costs what its predecessor did; the added run the spec's means
    ev, ft = hashes_of(plan, "evaluate"), hashes_of(plan, "finetune")
    expected = sum(wall("evaluate", h) for h in ev) + statistics.fmean(wall("evaluate", h) for h in ev) \
        + statistics.fmean(wall("finetune", h) for h in ft)
    assert tiny["cost_seconds"] == pytest.approx(expected)
    other = next(s for s in report["specs"] if s["name"] == "other")
    assert other["status"] == "added" and other["cost_unknown"] == 4
    assert report["total"]["compute"] == 1 + 3 + 2 + 2


def test_bad_revision(repo, capsys):
    assert main(["diff", "no-such-rev"]) == 1
    assert "'no-such-rev' is not a git revision" in capsys.readouterr().err
