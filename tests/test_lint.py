"""`snakemake --lint` on the workflow: nothing but the documented exceptions
(rules/lint_exceptions.yaml, each with its reason)."""
import re
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import ROOT, copy_project


def lints(cwd) -> list[str]:
    exe = Path(sys.executable).parent / "snakemake"
    p = subprocess.run([str(exe), "--lint"], cwd=cwd, capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert "Error" not in out.split("Lints for")[0], out[-2000:]
    return [re.sub(r" in line \d+:?$|:$", "", m.group(1)) for m in re.finditer(r"^\s+\* (.+)$", out, re.M)]


def test_the_workflow_passes_snakemake_lint_apart_from_documented_exceptions(tmp_path):
    allowed = {e["lint"]: e["reason"] for e in yaml.safe_load((ROOT / "rules" / "lint_exceptions.yaml").read_text())}
    assert all(len(reason.split()) >= 10 for reason in allowed.values())       # each states why
    found = lints(copy_project(tmp_path))
    assert found, "the linter reported nothing at all: is it running?"
    unexpected = sorted(set(found) - {a.rstrip(".:") for a in allowed} - set(allowed))
    assert unexpected == [], unexpected
