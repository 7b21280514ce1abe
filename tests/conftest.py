import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


GAUSSIAN_SPECS = "gaussian_*.yaml"


def copy_project(dst: Path, specs=True, pattern: str = GAUSSIAN_SPECS) -> Path:
    """A throwaway copy of the workflow (engine, rules, Snakefile, specs) to run Snakemake in.

    By default only the Gaussian specs (seconds at the smoke scale) and specs/base/ are copied;
    tests/test_smoke_all.py runs every spec's smoke scale once."""
    for name in ("Snakefile", "rules", "engine"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / name)
    if specs:
        shutil.copytree(ROOT / "specs" / "base", dst / "specs" / "base")
        for f in (ROOT / "specs").glob(pattern):
            shutil.copy2(f, dst / "specs" / f.name)
        if (ROOT / "engine" / "spec.schema.json").exists() and not (dst / "engine" / "spec.schema.json").exists():
            shutil.copy2(ROOT / "engine" / "spec.schema.json", dst / "engine" / "spec.schema.json")
    return dst


def engine_cmd(*args, cwd, check=False, env=None):
    e = {**os.environ, "PYTHONPATH": str(cwd), **(env or {})}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, capture_output=True, text=True,
                          check=check, env=e)


def snakemake(*args, cwd, check=True, env=None):
    e = {**os.environ, "PYTHONPATH": str(cwd), **(env or {})}
    exe = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    p = subprocess.run([exe, "--cores", "2", *args], cwd=cwd, capture_output=True, text=True, env=e)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path)
