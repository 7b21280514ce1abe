"""Stage kinds: what Snakemake rules call. Each is `<name>.py` (its `run`, may import torch)
beside `<name>_kind.py` (its registration: version, the metrics and series it writes).
The planner and the Snakefile read the registrations only (engine/registry.py)."""
from __future__ import annotations


def module(stage: str):
    """The implementation module of a stage kind (imports torch where it does)."""
    from .. import registry
    return registry.implementation(registry.stage(stage))
