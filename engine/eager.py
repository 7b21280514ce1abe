"""Deterministic eager PyTorch without the compiler's start-up cost.

`torch.use_deterministic_algorithms` imports torch._inductor (and with it torch._dynamo and
sympy: about 2 s) only to set the flag of torch.compile, which the engine never calls. A stage
that never steps an optimizer (evaluation: Adam's step imports torch._dynamo anyway) is spared
that import here; the eager flag is the same, so no number changes (tests/test_eager.py)."""
from __future__ import annotations

import sys


def deterministic(warn_only: bool = False) -> None:
    """torch.use_deterministic_algorithms(True) for eager code; inductor's flag is set as well
    when inductor is already loaded."""
    import torch
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(True, warn_only=warn_only)
