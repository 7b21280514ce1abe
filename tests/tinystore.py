"""A two-run spec computed in this process: a small real store for provenance, determinism
and verify tests (about a second). Call with the working directory set to `root`."""
from pathlib import Path

from engine.cli import main
from engine.plan import build_plan

GAUSSIAN = """\
schema_version: 1
name: tiny
data: {kind: gaussian, dim: 2}
model: {kind: gaussian_score, process: {kind: vp}}
sampler: {kind: gddim, steps: 10, stochasticity: 2}
algorithm: {kind: ddpo, epochs: 4, batch_size: 32}
reward: {kind: quadratic, center: 2.0}
curve: {every: 2}
evaluation: {method: monte_carlo, samples: 2000}
seeds: [0, 1]
scales: {smoke: {}, default: {}}
outputs:
  tables: [{name: tiny_table, rows: [seed], metrics: [gap, reward_ode]}]
"""


def build_store(root: Path, spec: str = GAUSSIAN, name: str = "tiny"):
    """Write specs/<name>.yaml under root, run every run-level stage of it; return the plan."""
    (root / "specs").mkdir(exist_ok=True)
    (root / "specs" / f"{name}.yaml").write_text(spec)
    plan = build_plan("smoke", root / "specs")
    for stage in plan.stage_order:
        hashes = sorted(h for h, inst in plan.instances.items() if inst.stage == stage)
        assert main(["run", stage, *hashes, "--scale", "smoke"]) == 0
    return plan


def hashes_of(plan, stage: str) -> list[str]:
    return sorted(h for h, inst in plan.instances.items() if inst.stage == stage)
