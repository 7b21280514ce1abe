"""How a rule starts the engine for one job: `python -m engine`, or torchrun when the job's
specs ask for more than one training process (`resources.processes`).

This is the one place that decides the launcher (the rules call `command`), so other launch
paths (GPUs, other stage kinds) belong here too. Imports no torch: the Snakefile uses it.
"""
from __future__ import annotations

from . import registry


def processes(job) -> int:
    """The number of processes `job` runs with: stage kinds declared `distributed` split their
    work across torch.distributed ranks (engine/distributed.py); others run as one process."""
    return job.processes if registry.stage(job.stage).distributed else 1


def gpus(job) -> int:
    """GPUs the job asks the scheduler for: one per process."""
    return job.gpus if registry.stage(job.stage).distributed else min(job.gpus, 1)


def command(job) -> str:
    """The arguments after `python` that start `engine` for `job` (the rule appends `run STAGE ...`).

    One process: `-m engine`. N > 1: `-m torch.distributed.run --standalone --nnodes 1
    --nproc_per_node N -m engine` (torchrun: a free rendezvous port on this host; gloo on CPU).
    No interpreter path here: the rule's params must not change when the virtualenv moves.
    """
    n = processes(job)
    if n <= 1:
        return "-m engine"
    return f"-m torch.distributed.run --standalone --nnodes 1 --nproc_per_node {n} -m engine"
