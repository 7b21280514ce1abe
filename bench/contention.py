"""Two torch processes on one 2-core machine, with and without the engine's GOMP_SPINCOUNT.

Each process trains a small MLP with 2 torch threads (a stage job's setting) for a fixed number
of Adam steps. Measured in one run: one process alone, then two at once, with libgomp's default
spinning (the variable unset) and with the engine's setting (engine/__init__.py). Prints each
wall time and the slowdown of two-at-once against alone. Figures go to README.md, "Benchmarks".
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

WORK = """
import time, torch
torch.set_num_threads(2)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.SiLU(), torch.nn.Linear(256, 256), torch.nn.SiLU(),
                          torch.nn.Linear(256, 64))
x = torch.randn(128, 64)
opt = torch.optim.Adam(net.parameters())
for _ in range({steps}):
    loss = net(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print(loss.item())
"""


def run(n: int, spin: str | None, steps: int) -> tuple[float, set[str]]:
    """Wall seconds of n processes started together, and the final losses they printed."""
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if spin is not None:
        env["GOMP_SPINCOUNT"] = spin
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WORK.format(steps=steps)], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(n)]
    out = {p.communicate()[0].strip() for p in procs}
    return time.perf_counter() - t0, out


def main(steps: int = 400) -> None:
    import engine  # noqa: F401  (sets GOMP_SPINCOUNT in os.environ)
    spin = os.environ["GOMP_SPINCOUNT"]
    results = {}
    for label, n, s in (("alone, default spinning", 1, None), ("two at once, default spinning", 2, None),
                        (f"alone, GOMP_SPINCOUNT={spin}", 1, spin), (f"two at once, GOMP_SPINCOUNT={spin}", 2, spin)):
        seconds, losses = run(n, s, steps)
        results[label] = (seconds, losses)
        print(f"{label:40s} {seconds:7.2f} s")
    assert len({x for _, losses in results.values() for x in losses}) == 1, "the setting changed the arithmetic"
    base = results["alone, default spinning"][0]
    for label in results:
        if label.startswith("two"):
            print(f"slowdown of two at once vs alone (default spinning alone = 1): {label}: {results[label][0] / base:.2f}x")
    print("final losses bitwise equal across all runs: yes")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
