"""How a rule starts the engine for one job: `python -m engine`, or torchrun when the job's
specs ask for more than one training process (`resources.processes`).

This is the one place that decides the launcher (the rules call `command`), so other launch
paths (GPUs, other stage kinds) belong here too. Imports no torch: the Snakefile uses it.
"""
from __future__ import annotations

# stage kinds whose code splits the work across torch.distributed ranks (engine/distributed.py);
# other stages always run as one process
DISTRIBUTED_STAGES = frozenset({"finetune"})


def processes(job) -> int:
    """The number of processes `job` runs with."""
    return job.processes if job.stage in DISTRIBUTED_STAGES else 1


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
