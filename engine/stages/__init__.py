"""Stage kinds: what Snakemake rules call. One module per kind, imported lazily
(the planner and the Snakefile must not import torch).

VERSIONS is part of every instance hash: bump a kind's version whenever its numbers
could change. tests/test_code_versions.py fails when a stage's code changes and its
version does not (fingerprints in engine/stages/fingerprints.json).
"""
from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parent.parent
FINGERPRINTS = Path(__file__).resolve().parent / "fingerprints.json"

VERSIONS = {"data": 1, "classifier": 1, "pretrain": 1, "finetune": 2, "evaluate": 3, "table": 1, "figure": 1,
            "index": 1}

# the code each stage's numbers depend on (files or packages, relative to engine/)
CODE_DEPS = {
    "data": ["stages/data.py"],
    "classifier": ["stages/classifier.py", "models/classifiers.py"],
    "pretrain": ["stages/pretrain.py", "models/unet.py"],
    "finetune": ["stages/finetune.py", "stages/common.py", "models", "samplers", "algorithms", "rewards",
                 "distributed.py", "evaluation.py"],
    "evaluate": ["stages/evaluate.py", "stages/common.py", "models", "samplers", "rewards", "evaluation.py"],
    "table": ["stages/table.py", "report"],
    "figure": ["stages/figure.py", "report"],
    "index": ["stages/index.py", "report"],
}


def module(stage: str):
    if stage not in VERSIONS:
        raise KeyError(f"unknown stage kind {stage!r} (one of: {', '.join(VERSIONS)})")
    return importlib.import_module(f"engine.stages.{stage}")


def source_digest(stage: str) -> str:
    """sha256 over the source files a stage's numbers depend on."""
    h = hashlib.sha256()
    files = []
    for dep in CODE_DEPS[stage]:
        p = ENGINE_DIR / dep
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    for f in files:
        h.update(str(f.relative_to(ENGINE_DIR)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def recorded_fingerprints() -> dict:
    return json.loads(FINGERPRINTS.read_text()) if FINGERPRINTS.is_file() else {}


def update_fingerprints(no_numeric_change: bool = False) -> list[str]:
    """Record current digests. Refuses a changed stage whose version was not bumped, unless
    the caller states the change cannot move any number (then old results stay valid)."""
    old = recorded_fingerprints()
    new, problems = {}, []
    for stage, version in VERSIONS.items():
        digest = source_digest(stage)
        prev = old.get(stage)
        if prev and prev["digest"] != digest and prev["version"] == version and not no_numeric_change:
            problems.append(f"{stage}: code changed but VERSIONS['{stage}'] is still {version}; bump it "
                            f"(or pass --no-numeric-change if no number can change)")
        new[stage] = {"version": version, "digest": digest}
    if not problems:
        FINGERPRINTS.write_text(json.dumps(new, indent=2, sort_keys=True) + "\n")
    return problems
