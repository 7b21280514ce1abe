"""Snakemake at the smoke scale, for real, on a copy of the shared smoke store (the full run is
conftest.smoke_store): a no-op rerun, an evaluation-only edit that reruns evaluation and outputs
and zero finetune work, and a claim edit that reruns the index alone."""
import re
from pathlib import Path

import pytest

from engine.plan import build_plan

from .conftest import snakemake, store_copy

pytestmark = pytest.mark.slow(52)

SPEC = "gaussian_vp_gap"


def dry_run_jobs(cwd, *extra) -> dict[str, int]:
    out = snakemake("-n", "--config", "scale=smoke", *extra, cwd=cwd).stdout
    if "Nothing to be done" in out:
        return {}
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(index|all)\s+(\d+)\s*$", out, re.M)}
    per_spec = dict(re.findall(r"^outputs_(\w+)\s+(\d+)\s*$", out, re.M))  # one output rule per spec: its tables
    if per_spec:                                                               # and figures (the stats print twice)
        counts["outputs"] = sum(int(n) for n in per_spec.values())
    for stage in re.findall(r"^\s+output: results/jobs/(\w+)/", out, re.M):     # the one stage rule, by stage kind
        counts[stage] = counts.get(stage, 0) + 1
    return counts


def store_state(cwd, stage):
    d = Path(cwd) / "results" / stage
    return {p.name: p.stat().st_mtime_ns for p in d.iterdir() if not p.name.startswith(".")} if d.exists() else {}


def instances(project, monkeypatch, stage) -> set[str]:
    monkeypatch.chdir(project)
    return {h for h, i in build_plan("smoke").instances.items() if i.stage == stage}


def test_noop_rerun_evaluation_only_edit_and_claim_edit(smoke_store, tmp_path, monkeypatch):
    project = store_copy(smoke_store, tmp_path / "project", (f"{SPEC}.yaml",))
    assert dry_run_jobs(project) == {"index": 1, "all": 1}          # one spec of the store: its index only
    snakemake("--config", "scale=smoke", cwd=project)
    paper = project / "paper" / "smoke"
    monkeypatch.chdir(project)
    targets = build_plan("smoke").targets
    tables = [t for t in targets.values() if t.kind == "table"]
    assert tables and all((project / f).is_file() for t in targets.values() for f in t.files)
    assert not (project / "paper" / "tables").exists()         # smoke never touches default outputs
    for t in tables:
        text = (project / t.files[0]).read_text()
        assert "± " not in text or "seeds" in text
        assert re.search(r"\| -?\d+\.\d+", text), text                 # a numeric cell
        assert f"specs/{SPEC}.yaml" in text                            # says which spec made it
    index = (paper / "README.md").read_text()
    assert "holds" in index or "does not hold" in index or "inconclusive" in index
    finetuned = store_state(project, "finetune")
    assert instances(project, monkeypatch, "finetune") <= set(finetuned)

    assert dry_run_jobs(project) == {}                              # no-op rerun

    spec = project / "specs" / f"{SPEC}.yaml"
    evaluated = instances(project, monkeypatch, "evaluate")
    spec.write_text(spec.read_text() + "evaluation: {method: monte_carlo, samples: 1000}\n")
    planned = dry_run_jobs(project)
    assert planned.get("finetune", 0) == 0, planned
    assert planned["evaluate"] >= 1 and planned["outputs"] == 1
    snakemake("--config", "scale=smoke", cwd=project)
    assert store_state(project, "finetune") == finetuned            # zero finetune work
    new = instances(project, monkeypatch, "evaluate")
    assert new and not new & evaluated                              # every evaluation re-keyed, and run
    assert new <= set(store_state(project, "evaluate"))

    # what the index shows changed (a claim's threshold): the index alone reruns (engine/stamps.py)
    base = project / "specs" / "base" / "gaussian.yaml"
    text = base.read_text()
    assert "ratio: 0.75" in text
    base.write_text(text.replace("ratio: 0.75", "ratio: 0.5"))
    planned = dry_run_jobs(project)
    assert planned.get("index") == 1 and not {"outputs", "finetune", "evaluate"} & set(planned), planned
    snakemake("--config", "scale=smoke", cwd=project)
    assert "0.5 × \\|gap\\| at epoch 0" in (paper / "README.md").read_text()
    assert dry_run_jobs(project) == {}
