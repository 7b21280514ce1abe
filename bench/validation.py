"""Spec validation is linear in the spec's size (issue "Trust nothing read back", defect 8).

Two shapes that were quadratic: a scale overlay with many dotted keys, and a spec extending a base
where both hold many entries. For each, specs of about 128, 256 and 512 KB are generated and loaded
and expanded the way `engine validate` does (best of 3; each ends in its first validation error, as
the red-team specs did: the cost is what runs before it). Prints each time and the ratio
time(2x size) / time(size), which must stay at most 2.5 at 256 KB and at 512 KB. Figures go to
README.md, "Benchmarks".
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HEAD = ["data: {kind: gaussian, dim: 2, mean: 0.0, std: 1.0}",
        "model: {kind: gaussian_score, process: {kind: vp, beta_min: 0.1, beta_max: 20.0}}",
        "sampler: {kind: gddim, steps: 10, stochasticity: 1.0}",
        "algorithm: {kind: ddpo, epochs: 2, batch_size: 8, lr: 0.01}",
        "reward: {kind: quadratic, center: 2.0}"]


def overlay_spec(folder: Path, kb: int) -> Path:
    n = kb * 1024 // 22
    lines = ["name: big"] + HEAD + ["scales:", "  default:"] + [f"    model.x{i}: {i}" for i in range(n)]
    (folder / "big.yaml").write_text("\n".join(lines) + "\n")
    return folder / "big.yaml"


def extends_spec(folder: Path, kb: int) -> Path:
    n = kb * 1024 // 2 // 24
    (folder / "base").mkdir()
    base = ["name: base"] + HEAD + ["scales: {default: {}}", "extra:"] + [f"  k{i}: {{a: {i}, b: 2}}" for i in range(n)]
    (folder / "base" / "b.yaml").write_text("\n".join(base) + "\n")
    child = ["name: big", "extends: base/b.yaml", "extra:"] + [f"  k{i}: {i}" for i in range(n)]
    (folder / "big.yaml").write_text("\n".join(child) + "\n")
    return folder / "big.yaml"


def seconds(path: Path) -> float:
    from engine.errors import EngineError
    from engine.spec.resolve import expand, load_spec
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        try:
            expand(load_spec(path), "default")
        except EngineError:
            pass
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    worst = 0.0
    for name, make in (("overlay keys", overlay_spec), ("extends + base", extends_spec)):
        times = {}
        for kb in (128, 256, 512):
            with tempfile.TemporaryDirectory() as tmp:
                path = make(Path(tmp), kb)
                size = sum(f.stat().st_size for f in Path(tmp).rglob("*.yaml")) / 1024
                times[kb] = seconds(path)
                print(f"{name:15s} {size:6.0f} KB: {times[kb]:.3f} s", flush=True)
        for kb in (256, 512):
            ratio = times[kb] / times[kb // 2]
            worst = max(worst, ratio)
            print(f"{name:15s} time({kb} KB) / time({kb // 2} KB) = {ratio:.2f} (goal <= 2.5)")
    return 0 if worst <= 2.5 else 1


if __name__ == "__main__":
    sys.exit(main())
