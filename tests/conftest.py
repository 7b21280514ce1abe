import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def copy_project(dst: Path, specs=True) -> Path:
    """A throwaway copy of the workflow (engine, rules, Snakefile, specs) to run Snakemake in."""
    for name in ("Snakefile", "rules", "engine") + (("specs",) if specs else ()):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / name)
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
