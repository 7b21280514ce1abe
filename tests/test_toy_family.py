"""The plug-in contract: a family defined in a test module (tests/toy_family.py) registers a data
source, an analysis, a stage kind, a metric and a series; a spec uses them and runs through
Snakemake to a table, figures and judged claims, with no edit to any engine file."""
import json
import os

import pytest

from .conftest import ROOT, copy_project, engine_cmd, snakemake

pytestmark = pytest.mark.slow(12)

SPEC = """name: toy
title: Toy family (plug-in contract)
paper: toy
data: {kind: toy_points, n: [4, 64, 1024], mean: 2.0}
analysis: {kind: toy_mean}
seeds: [0, 1, 2]
scales: {smoke: {}}
outputs:
  tables: [{name: toy_table, rows: [data.n], metrics: [error, spread]}]
  figures:
    - {name: toy_running_mean, x: n, y: running_mean, hue: data.n}
    - {name: toy_error, x: data.n, y: error, plot: step}
claims:
  - {name: error_shrinks, text: "More points, smaller error",
     check: {kind: trend, metric: error, axis: data.n, direction: decreasing}}
"""


def test_a_family_from_a_test_module_runs_to_tables_and_figures(tmp_path):
    project = copy_project(tmp_path, specs=False)
    (project / "specs").mkdir()
    (project / "specs" / "toy.yaml").write_text(SPEC)
    env = {"ENGINE_PLUGINS": "tests.toy_family", "PYTHONPATH": f"{project}{os.pathsep}{ROOT}"}
    v = engine_cmd("validate", cwd=project, env=env)
    assert v.returncode == 0, v.stderr
    snakemake("--config", "scale=smoke", cwd=project, env=env)
    table = (project / "paper" / "smoke" / "tables" / "toy_table.md").read_text()
    assert "| 1024 |" in table and "error" in table
    for fig in ("toy_running_mean", "toy_error"):
        assert (project / "paper" / "smoke" / "figures" / f"{fig}.png").stat().st_size > 1000
    index = (project / "paper" / "smoke" / "README.md").read_text()
    assert "More points, smaller error" in index
    stored = [json.loads(p.read_text()) for p in (project / "results" / "compute").glob("*/metrics.json")]
    assert len(stored) == 9 and all(m["error"] >= 0 for m in stored)

    # engine verify reruns a result and compares it, leaving out the metric declared not deterministic
    sample = next((project / "results" / "toy_sample").iterdir()).name
    ok = engine_cmd("verify", sample, cwd=project, env=env)
    assert ok.returncode == 0 and "REPRODUCED" in ok.stdout, ok.stdout + ok.stderr
    assert "not compared, declared not deterministic: seconds" in ok.stdout, ok.stdout
    assert "equal up to declared determinism" in ok.stdout, ok.stdout

    # a table of a metric the runs' stages never write fails validation, before anything runs
    (project / "specs" / "toy.yaml").write_text(SPEC.replace("metrics: [error, spread]", "metrics: [eror]"))
    bad = engine_cmd("validate", cwd=project, env=env)
    assert bad.returncode == 2
    assert "outputs.tables.0.metrics.0: unknown metric 'eror'; did you mean 'error'?" in bad.stderr
