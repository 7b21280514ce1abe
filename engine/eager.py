"""Deterministic eager PyTorch without the compiler's start-up cost.

`torch.use_deterministic_algorithms` imports torch._inductor (and with it torch._dynamo and
sympy: about 2 s) only to set the flag of torch.compile, which the engine never calls. A stage
that never steps an optimizer (evaluation: Adam's step imports torch._dynamo anyway) is spared
that import here; the eager flag is the same, so no number changes (tests/test_eager.py).

numpy's BLAS splits its sums across its threads, so an analysis' numbers depend on their count
(1e-14 in the LQ gaps between 1 and 2 threads). `blas_threads` pins it to what the job declares:
Snakemake exports OPENBLAS_NUM_THREADS = the job's threads, and a rerun outside it (`engine run`
by hand, `engine verify`) must use the same count."""
from __future__ import annotations

import sys


def blas_threads(n: int):
    """numpy's BLAS with n threads from now on; as a context manager, only inside the block."""
    import numpy  # noqa: F401  (loads the BLAS library, so that there is one to limit)
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=n, user_api="blas")


def deterministic(warn_only: bool = False) -> None:
    """torch.use_deterministic_algorithms(True) for eager code; inductor's flag is set as well
    when inductor is already loaded."""
    import torch
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(True, warn_only=warn_only)
