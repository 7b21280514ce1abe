import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
import engine  # noqa: E402,F401  (sets GOMP_SPINCOUNT before any test imports torch: engine/__init__.py)


GAUSSIAN_SPECS = "gaussian_*.yaml"
# The workflow tests' specs: the Gaussian specs as they were at 5cba3f6, frozen, so a paper's
# spec edits (a new sweep, a new table) never change what these tests count. tests/test_smoke_all.py
# runs the live specs/ at the smoke scale.
FIXTURE_SPECS = ROOT / "tests" / "fixtures" / "specs_5cba3f6"


def copy_project(dst: Path, specs=True, pattern: str = GAUSSIAN_SPECS, source: Path = FIXTURE_SPECS) -> Path:
    """A throwaway copy of the workflow (engine, rules, Snakefile, specs) to run Snakemake in.

    By default only the frozen Gaussian specs (seconds at the smoke scale) and their base/ are
    copied; `source=ROOT / "specs"` takes the live ones."""
    for name in ("Snakefile", "rules", "engine"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / name)
    if specs:
        shutil.copytree(source / "base", dst / "specs" / "base")
        for f in source.glob(pattern):
            shutil.copy2(f, dst / "specs" / f.name)
        if (ROOT / "engine" / "spec.schema.json").exists() and not (dst / "engine" / "spec.schema.json").exists():
            shutil.copy2(ROOT / "engine" / "spec.schema.json", dst / "engine" / "spec.schema.json")
    return dst


def engine_cmd(*args, cwd, check=False, env=None):
    e = {**os.environ, "PYTHONPATH": str(cwd), **(env or {})}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, capture_output=True, text=True,
                          check=check, env=e)


def snakemake(*args, cwd, check=True, env=None, cores=2):
    e = {**os.environ, "PYTHONPATH": str(cwd), **(env or {})}
    exe = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    p = subprocess.run([exe, "--cores", str(cores), *args], cwd=cwd, capture_output=True, text=True, env=e)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def pytest_collection_modifyitems(config, items):
    """The order `make test` (pytest-xdist, whole files per worker, --no-loadscope-reorder) hands
    out files in: first the file that builds the shared smoke store (`smoke_store`), then the
    longest files (`slow(seconds)`: the time measured on 2 workers), so that no long file starts
    last while the other worker idles; the files that start from copies of the store come last,
    when it is built. The order of tests within a file is kept."""
    cost, consumer = {}, set()
    for item in items:
        mark = item.get_closest_marker("slow")
        cost[item.path] = max(cost.get(item.path, 0), mark.args[0] if mark and mark.args else 0)
        if "smoke_store" in item.fixturenames:
            consumer.add(item.path)
    first = {path: (0 if path.name == SMOKE_STORE_BUILDER else 2 if path in consumer else 1, -c)
             for path, c in cost.items()}
    items.sort(key=lambda item: first[item.path])


# ----------------------------------------------------------------------------- the shared smoke store
SMOKE_STORE_BUILDER = "test_smoke_all.py"


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory, worker_id) -> Path:
    """The live specs/ run end to end by Snakemake at the smoke scale, once per test session: the
    first worker to ask builds it, under a file lock, and the others wait and reuse it.
    tests/test_smoke_all.py checks it; the workflow, report, DVC and multi-process tests start
    from copies of it (`store_copy`), so no test retrains what this run trained. Read-only."""
    from filelock import FileLock
    root = tmp_path_factory.getbasetemp()
    root = root.parent if worker_id != "master" else root
    store = root / "smoke_store"
    with FileLock(str(root / "smoke_store.lock")):
        if not (store / ".built").is_file():
            if store.exists():
                shutil.rmtree(store)            # a build that failed earlier in this session
            store.mkdir()
            copy_project(store, pattern="*.yaml", source=ROOT / "specs")
            # three 2-thread jobs at a time on 2 cores: their single-threaded start-up (imports: most
            # of a smoke job) overlaps, and the build, which every store test waits for, keeps its
            # share of the CPU beside the other worker's tests (two jobs at a time: 81 s instead of
            # 133 s alone, session 4); results bitwise the same (each job keeps its 2 threads)
            snakemake("--config", "scale=smoke", cwd=store, cores=6)
            (store / ".built").touch()
    return store


def store_copy(store: Path, dst: Path, specs: tuple[str, ...], extra: dict[str, str] | None = None,
               prune: bool = False) -> Path:
    """A copy of the smoke store (files, times and Snakemake's metadata kept) whose specs/ holds only
    the live specs named in `specs` (file names) plus `extra` ({file name: text}). The other specs'
    results stay in results/ unused, or with `prune` are removed (`engine gc`)."""
    shutil.copytree(store, dst, symlinks=True, ignore=shutil.ignore_patterns(".built", "__pycache__"))
    for f in (dst / "specs").glob("*.yaml"):
        if f.name not in specs:
            f.unlink()
    for name, text in (extra or {}).items():
        (dst / "specs" / name).write_text(text)
    if prune:
        from engine import gc
        with contextlib.chdir(dst):
            gc.remove(gc.find())
    return dst


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path)


def require(problem: str | None) -> None:
    """Skip a test that needs a system tool or root when `problem` says why it cannot run,
    except in CI ($CI set, as .ci/run does), where the test fails instead: CI must not skip it."""
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI: this test must run; .ci/system-deps.sh installs the packages as root)")
        pytest.skip(problem)


# A digits run small enough for workflow tests (seconds per stage): class-conditional UNet,
# classifier reward, judge, sample grids; one table and one curve figure.
TINY_DIGITS = """name: {name}
extends: base/digits.yaml
title: "Tiny digits run (tests)"
sampler: {{kind: gddim, steps: 4, stochasticity: 1.0}}
seeds: [0]
claims: []
scales:
  smoke:
    model.pretrain.steps: 3
    model.pretrain.batch_size: 16
    reward.model.steps: 3
    reward.model.batch_size: 16
    evaluation.judge.steps: 3
    evaluation.judge.batch_size: 16
    algorithm.epochs: 2
    algorithm.batch_size: 8
    curve.every: 1
    curve.samples: 16
    evaluation.samples: 20
outputs:
  tables: [{{name: {name}_table, rows: [sampler.stochasticity], metrics: [reward_ode, gap, judge_accuracy]}}]
  figures: [{{name: {name}_curve, x: epoch, y: gap}}]
{extra}"""


SMOKE_GAUSSIAN = ("gaussian_vp_gap.yaml", "gaussian_ve_gap.yaml")


def add_specs(project: Path, gaussian=SMOKE_GAUSSIAN, digits: str | None = None, extra: str = "") -> Path:
    """Put Gaussian specs of specs/ (file names) and/or a tiny digits spec named `digits` into project/specs."""
    specs = project / "specs"
    (specs / "base").mkdir(parents=True, exist_ok=True)
    for base in ("gaussian.yaml", "digits.yaml"):
        shutil.copy2(FIXTURE_SPECS / "base" / base, specs / "base" / base)
    for name in gaussian or ():
        shutil.copy2(FIXTURE_SPECS / name, specs / name)
    if digits:
        (specs / f"{digits}.yaml").write_text(TINY_DIGITS.format(name=digits, extra=extra))
    return project
