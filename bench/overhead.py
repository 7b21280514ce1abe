"""Engine overhead vs raw Snakemake, measured in one run.

1. `snakemake -n` on generated specs with >= 1,000 runs, against `snakemake -n` on a
   hand-written Snakefile with the same jobs (literal paths, no engine import).
2. A no-op `snakemake` on the default paper (run `make reproduce` first; skipped otherwise).
Prints the ratios; figures are recorded in bench/README.md.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1"}

SPEC = """name: {name}
extends: base/gaussian.yaml
model: {{kind: gaussian_score, process: {{kind: vp}}}}
sampler: {{kind: gddim, steps: [{steps}], stochasticity: [{lams}]}}
seeds: [{seeds}]
scales: {{default: {{}}}}
outputs:
  tables:
    - {{name: t_{name}, rows: [sampler.stochasticity, sampler.steps], metrics: [gap]}}
  figures:
    - {{name: f_{name}, x: epoch, y: gap, hue: sampler.stochasticity, panel: sampler.steps}}
"""


def timed(cmd, cwd, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=ENV, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_generated(root: Path, n_specs=4) -> int:
    shutil.copytree(ROOT / "engine", root / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "rules", root / "rules")
    shutil.copy2(ROOT / "Snakefile", root / "Snakefile")
    (root / "specs" / "base").mkdir(parents=True)
    # the Gaussian base as it was at 5cba3f6 (frozen), so the run count does not move with the paper's specs
    shutil.copy2(ROOT / "tests" / "fixtures" / "specs_5cba3f6" / "base" / "gaussian.yaml",
                 root / "specs" / "base" / "gaussian.yaml")
    runs = 0
    for i in range(n_specs):
        steps, lams, seeds = [5 + 5 * k for k in range(5)], [0.5 * (k + 1) for k in range(10)], list(range(5))
        (root / "specs" / f"gen{i}.yaml").write_text(SPEC.format(
            name=f"gen{i}", steps=", ".join(map(str, steps)), lams=", ".join(map(str, lams)),
            seeds=", ".join(map(str, seeds))))
        runs += len(steps) * len(lams) * len(seeds)
    return runs


def make_handwritten(gen: Path, root: Path) -> int:
    """A Snakefile with the same jobs, written out literally."""
    cwd = os.getcwd()
    os.chdir(gen)
    try:
        from engine.plan import build_plan
        plan = build_plan("default")
    finally:
        os.chdir(cwd)
    lines = ["rule all:", f"    input: {plan.all_files()!r}", ""]
    for job in plan.jobs.values():
        lines += [f"rule {job.stage}_{job.id}:", f"    input: {list(job.inputs)!r}",
                  f"    output: {str(job.manifest)!r}", f"    log: 'logs/{job.stage}/{job.id}.log'",
                  f"    params: hashes={' '.join(job.hashes)!r}", "    threads: 2",
                  "    shell: 'engine run {rule} {params.hashes} > {log}'", ""]
    by_spec: dict[str, list] = {}
    for t in plan.targets.values():                 # one output job per spec, as rules/paper.smk
        by_spec.setdefault(t.spec.name, []).append(t)
    for spec, ts in by_spec.items():
        lines += [f"rule outputs_{spec}:", f"    input: {sorted({i for t in ts for i in t.inputs})!r}",
                  f"    output: {[f for t in ts for f in t.files]!r}",
                  f"    params: output_keys={' '.join(t.key for t in ts)!r}",
                  "    shell: 'engine run outputs {params.output_keys}'", ""]
    lines += ["rule index:", f"    input: {[f for t in plan.targets.values() for f in t.files]!r}",
              f"    output: {plan.index_file!r}", "    shell: 'engine run index'", ""]
    (root / "Snakefile").write_text("\n".join(lines))
    return len(plan.jobs) + len(by_spec) + 1


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        gen, hand = Path(tmp) / "gen", Path(tmp) / "hand"
        gen.mkdir(), hand.mkdir()
        runs = make_generated(gen)
        jobs = make_handwritten(gen, hand)
        cold = []
        for _ in range(3):                      # the plan built from the specs (no cache file)
            shutil.rmtree(gen / "build" / "plan", ignore_errors=True)
            cold.append(timed([SNAKEMAKE, "-n", "--cores", "2"], gen, repeat=1))
        t_cold = statistics.median(cold)
        t_engine = timed([SNAKEMAKE, "-n", "--cores", "2"], gen)     # read back from build/plan/
        t_hand = timed([SNAKEMAKE, "-n", "--cores", "2"], hand)
        print(f"dry run, {runs} runs / {jobs} jobs: engine {t_engine:.2f}s with the plan cache, {t_cold:.2f}s "
              f"without; hand-written {t_hand:.2f}s; ratio {t_engine / t_hand:.2f} cached (goal <= 1.15), "
              f"{t_cold / t_hand:.2f} cold")
    if (ROOT / "paper" / "README.md").is_file() and (ROOT / "results" / "jobs").is_dir():
        t_noop = timed([SNAKEMAKE, "--cores", "2"], ROOT, repeat=3)
        print(f"no-op snakemake on the default paper: {t_noop:.2f}s (goal < 5 s)")
    else:
        print("no-op timing skipped: run `make reproduce` first")


if __name__ == "__main__":
    main()
