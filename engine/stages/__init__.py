"""Stage kinds: what Snakemake rules call. One module per kind, imported lazily
(the planner and the Snakefile must not import torch).

VERSIONS is part of every instance hash: bump a kind's version whenever its numbers
could change. tests/test_code_versions.py fails when a stage's code changes and its
version does not (fingerprints in engine/stages/fingerprints.json).
"""
from __future__ import annotations

import importlib

VERSIONS = {"finetune": 1, "evaluate": 1, "table": 1, "figure": 1, "index": 1}

# one job per spec (cheap instances) or one per instance (heavy ones)
GROUPING = {"finetune": "spec", "evaluate": "spec"}

# the code each stage's numbers depend on (files or packages, relative to engine/)
CODE_DEPS = {
    "finetune": ["stages/finetune.py", "models", "samplers", "algorithms", "rewards", "evaluation.py"],
    "evaluate": ["stages/evaluate.py", "models", "samplers", "rewards", "evaluation.py"],
    "table": ["stages/table.py", "report"],
    "figure": ["stages/figure.py", "report"],
    "index": ["stages/index.py", "report"],
}


def module(stage: str):
    if stage not in VERSIONS:
        raise KeyError(f"unknown stage kind {stage!r} (one of: {', '.join(VERSIONS)})")
    return importlib.import_module(f"engine.stages.{stage}")
