"""Snakemake at the smoke scale, for real: a full run, a no-op rerun, and an
evaluation-only edit that reruns evaluation and outputs and zero finetune work."""
import re
from pathlib import Path

import pytest

from .conftest import snakemake

pytestmark = pytest.mark.slow


def dry_run_jobs(cwd, *extra) -> dict[str, int]:
    out = snakemake("-n", "--config", "scale=smoke", *extra, cwd=cwd).stdout
    if "Nothing to be done" in out:
        return {}
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(table|figure|index|all)\s+(\d+)\s*$", out, re.M)}
    for stage in re.findall(r"^\s+output: results/jobs/(\w+)/", out, re.M):     # the one stage rule, by stage kind
        counts[stage] = counts.get(stage, 0) + 1
    return counts


def store_state(cwd, stage):
    d = Path(cwd) / "results" / stage
    return {p.name: p.stat().st_mtime_ns for p in d.iterdir() if not p.name.startswith(".")} if d.exists() else {}


def test_smoke_run_noop_and_evaluation_only_edit(project):
    planned = dry_run_jobs(project)
    assert planned["finetune"] >= 1 and planned["evaluate"] >= 1 and planned["index"] == 1
    snakemake("--config", "scale=smoke", cwd=project)
    paper = project / "paper" / "smoke"
    tables = sorted((paper / "tables").glob("*.md"))
    figures = sorted((paper / "figures").glob("*.png"))
    assert len(tables) == 2 and len(figures) == 2
    assert not (project / "paper" / "tables").exists()         # smoke never touches default outputs
    for t in tables:
        text = t.read_text()
        assert "± " not in text or "seeds" in text
        assert re.search(r"\| 1 \| 10 \| -?\d+\.\d+", text), text   # a numeric row
        assert "specs/" in text                                     # says which spec made it
    index = (paper / "README.md").read_text()
    assert "holds" in index or "does not hold" in index or "partly" in index
    finetuned = store_state(project, "finetune")
    assert len(finetuned) == 8

    assert dry_run_jobs(project) == {}                              # no-op rerun

    spec = project / "specs" / "gaussian_vp_gap.yaml"
    spec.write_text(spec.read_text().replace("  default: {}", "  default: {}\nevaluation: {method: monte_carlo, samples: 4000}"))
    planned = dry_run_jobs(project)
    assert planned.get("finetune", 0) == 0, planned
    assert planned["evaluate"] == 1 and planned["table"] >= 1
    snakemake("--config", "scale=smoke", cwd=project)
    assert store_state(project, "finetune") == finetuned            # zero finetune work
    assert len(store_state(project, "evaluate")) == 8 + 4
    text = (paper / "tables" / "gaussian_vp_gap_table.md").read_text()
    assert re.search(r"\| 1 \| 10 \|", text)

    # what the index shows changed (a claim's threshold): the index alone reruns (engine/stamps.py)
    base = project / "specs" / "base" / "gaussian.yaml"
    base.write_text(base.read_text().replace("ratio: 0.75", "ratio: 0.5"))
    planned = dry_run_jobs(project)
    assert planned.get("index") == 1 and not {"table", "figure", "finetune", "evaluate"} & set(planned), planned
    snakemake("--config", "scale=smoke", cwd=project)
    assert "0.5 × \\|gap\\| at epoch 0" in (paper / "README.md").read_text()
    assert dry_run_jobs(project) == {}
