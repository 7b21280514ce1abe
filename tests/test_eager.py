"""engine/eager.py: the deterministic flag without loading the compiler stack."""
import subprocess
import sys

CHECK = """
import sys, torch
from engine.eager import deterministic
{before}
deterministic()
assert torch.are_deterministic_algorithms_enabled()
assert not torch.is_deterministic_algorithms_warn_only_enabled()
loaded = "torch._inductor.config" in sys.modules
print(loaded, loaded and sys.modules["torch._inductor.config"].deterministic)
"""


def run(before: str = "") -> str:
    return subprocess.run([sys.executable, "-c", CHECK.format(before=before)], capture_output=True, text=True,
                          check=True).stdout.split()


def test_sets_the_eager_flag_without_importing_inductor():
    assert run() == ["False", "False"]


def test_sets_inductors_flag_when_inductor_is_loaded():
    assert run("import torch._inductor.config") == ["True", "True"]


def test_warn_only_reaches_torch():
    code = "import torch; from engine.eager import deterministic; deterministic(warn_only=True); " \
           "print(torch.is_deterministic_algorithms_warn_only_enabled())"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "True"
