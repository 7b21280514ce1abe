"""engine/eager.py: the deterministic flag without loading the compiler stack, and
engine/__init__.py's OpenMP setting. One fresh interpreter, since both act on process state."""
import subprocess
import sys

CHECK = """
import os, sys, torch
from engine.eager import deterministic
print(os.environ.get("GOMP_SPINCOUNT"))
deterministic()
print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
      "torch._inductor.config" in sys.modules)
deterministic(warn_only=True)
print(torch.is_deterministic_algorithms_warn_only_enabled())
import torch._inductor.config as inductor
deterministic()
print(inductor.deterministic, torch.are_deterministic_algorithms_enabled())
"""


def test_deterministic_flags_without_inductor_and_with_it_once_loaded():
    env = {"PATH": "/usr/bin:/bin"}                     # GOMP_SPINCOUNT unset: the engine sets it
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split("\n")[:4] == ["1000", "True False False", "True", "True True"], out.stdout


def test_blas_threads_pins_numpy_blas_and_restores_it():
    from threadpoolctl import threadpool_info

    from engine.eager import blas_threads

    def counts():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    before = counts()
    with blas_threads(1):
        assert counts() == {1}
    assert counts() == before
