"""Progress and logs: every job Snakemake runs writes its log under logs/, long stages show
tqdm progress there, `engine plan` tells done, pending and stale instances apart, and a
failing output job names its output, spec and runs (run-level stages: tests/test_faults.py)."""
import re
from pathlib import Path

import pytest

from .conftest import add_specs, copy_project, engine_cmd, snakemake

pytestmark = pytest.mark.slow(21)

SPEC = """name: progress_run
extends: base/gaussian.yaml
model: {kind: gaussian_score, process: {kind: vp}}
sampler: {kind: gddim, steps: 10, stochasticity: [1.0, 2.0]}
algorithm: {epochs: 6, batch_size: 32}
curve: {every: 2}
seeds: [0]
claims: []
scales: {smoke: {}}
outputs:
  tables: [{name: progress_table, rows: [sampler.stochasticity], metrics: [gap]}]
  figures: [{name: progress_curve, x: epoch, y: gap, hue: sampler.stochasticity}]
"""


def plan_lines(project, *args) -> str:
    p = engine_cmd("plan", "--scale", "smoke", *args, cwd=project)
    assert p.returncode == 0, p.stderr
    return p.stdout


def stage_line(text: str, stage: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(stage + " "))


def job_logs(snakemake_output: str) -> dict[str, list[str]]:
    """The log files Snakemake lists for each job it ran, by rule (the one stage rule's by stage
    kind, from logs/<stage>/<job>.log)."""
    logs: dict[str, list[str]] = {}
    rule = None
    for line in snakemake_output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if m:
            rule = m.group(1)
            if rule != "stage":
                logs.setdefault(rule, [])
        elif rule and line.strip().startswith("log: "):
            files = [s.strip() for s in line.strip()[5:].split(",")]
            key = files[0].split("/")[1] if rule == "stage" else rule
            logs.setdefault(key, []).extend(files)
    return logs


def test_logs_progress_status_and_failure_messages(tmp_path):
    project = copy_project(tmp_path, specs=False)
    add_specs(project, gaussian=())
    (project / "specs" / "progress_run.yaml").write_text(SPEC)

    before = plan_lines(project)
    assert "finetune      2 instances: 0 done, 2 pending" in stage_line(before, "finetune"), before
    assert "jobs" in before and "to run" in before

    run = snakemake("--config", "scale=smoke", cwd=project, env={"ENGINE_PROGRESS_SECONDS": "0"})
    logs = job_logs(run.stdout + run.stderr)
    assert {"finetune", "evaluate", "outputs_progress_run", "index"} <= set(logs), logs
    for rule, files in logs.items():
        if rule == "all":
            continue
        assert files, f"rule {rule} has no log"
        for f in files:
            assert f.startswith("logs/") and (project / f).is_file(), (rule, f)
    finetune_log = next((project / "logs" / "finetune").glob("*.log")).read_text()
    assert re.search(r"finetune: 100%\|#+\| 6/6 \[", finetune_log), finetune_log      # tqdm, one line per refresh
    assert "\r" not in finetune_log

    after = plan_lines(project, "-v")
    assert "2 done, 0 pending" in stage_line(after, "finetune") and "to run" not in after, after

    # the finetune code changes (a comment): stored finetune results are stale, evaluations are not
    src = project / "engine" / "stages" / "finetune.py"
    src.write_text(src.read_text() + "\n# an edit that changes no number\n")
    stale = plan_lines(project, "-v")
    assert "2 stale" in stage_line(stale, "finetune") and "2 done" in stage_line(stale, "evaluate"), stale
    assert re.search(r"finetune:[0-9a-f]{16}\(stale\) evaluate:[0-9a-f]{16}\(done\)", stale)
    assert "engine verify" in stale
    src.write_text(src.read_text().replace("\n# an edit that changes no number\n", ""))
    assert "2 done" in stage_line(plan_lines(project), "finetune")

    # an output job fails: the message names the output, its spec and runs
    ev = next((project / "results" / "evaluate").iterdir())
    (ev / "metrics.json").write_text("{}")                      # a corrupted stored result
    (project / "paper" / "smoke" / "tables" / "progress_table.md").unlink()
    failed = snakemake("--config", "scale=smoke", "--show-failed-logs", cwd=project, check=False)
    assert failed.returncode != 0
    text = failed.stdout + failed.stderr
    assert re.search(r"engine: error: table progress_table \([0-9a-f]{16}\) of progress_run "
                     r"\(specs/progress_run\.yaml, 2 runs\) failed: ", text), text[-3000:]
    assert "logs/smoke/outputs/progress_run.log" in text
