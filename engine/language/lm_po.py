"""lm_po: one preference-tuning run (engine/language/tuning.py: train_policy) on the run's pairs."""
from __future__ import annotations

import json
import time

from .. import progress, store
from ..stages.common import setup_torch
from . import lm, lm_pairs, tuning


def run(instance, out_dir, log) -> dict:
    setup_torch()
    alg, seed = instance.config["algorithm"], instance.config["seed"]
    sft_hash, pairs_hash, *select = instance.upstream
    chosen: tuple[str, ...] = ()
    if select:                                   # rainbow: the components lm_select chose
        store.verify_files("lm_select", select[0])
        chosen = tuple(json.loads((store.result_dir("lm_select", select[0]) / "selection.json").read_text())["components"])
    base, components = tuning.variant_parts(alg["variant"], chosen)
    sft, tok, _ = tuning.load_model("lm_sft", sft_hash)
    pairs = lm_pairs.load(pairs_hash)["rejection" if "rejection" in components else "plain"]
    log(f"{alg['variant']}: {base} + {', '.join(components) or 'no components'} on {len(pairs)} pairs")
    bar = progress.bar(alg["steps"], "lm_po", unit="step")
    t0 = time.perf_counter()
    policy, stats = tuning.train_policy(sft, tok, pairs, alg, base, components, seed, bar=bar)
    seconds = time.perf_counter() - t0
    bar.close()
    lm.save(policy, tok, out_dir / "model")
    curve = stats.pop("loss_curve")
    (out_dir / "series.json").write_text(json.dumps({"loss": {"x": list(range(1, len(curve) + 1)), "y": curve}}))
    metrics = {**stats, "components": len(components), "po_seconds": seconds}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    log(f"loss {stats['final_loss']:.4f}, implicit accuracy {stats['train_implicit_acc']:.2f} in {seconds:.1f}s")
    return metrics
