"""lm_pairs: the run's preference pairs (engine/language/tuning.py: build_pairs), stored as JSON."""
from __future__ import annotations

import json

from .. import store
from ..stages.common import setup_torch
from . import tuning


def run(instance, out_dir, log) -> dict:
    setup_torch()
    cfg = instance.config
    sft_hash = instance.upstream[0]
    sft, tok, split = tuning.load_sft(sft_hash)
    problems = split["pairs"]
    pairs = tuning.build_pairs(sft, tok, problems, cfg["pairs"], cfg["max_new"], cfg["seed"])
    stats = tuning.pair_stats(pairs["plain"], {p.prompt: p for p in problems})
    (out_dir / "pairs.json").write_text(json.dumps({"plain": pairs["plain"], "rejection": pairs["rejection"]}))
    metrics = {"pairs_plain": len(pairs["plain"]), "pairs_rejection": len(pairs["rejection"]),
               "chosen_longer": stats["chosen_longer"], "chosen_correct": stats["chosen_correct"],
               "sample_accuracy": pairs["sample_accuracy"], "sample_length": pairs["sample_length"]}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    log(f"{len(pairs['plain'])} plain and {len(pairs['rejection'])} rejection-sampled pairs from {len(problems)} "
        f"prompts; chosen longer {stats['chosen_longer']:.2f}, correct {stats['chosen_correct']:.2f}")
    return metrics


def load(h: str) -> dict:
    store.verify_files("lm_pairs", h)
    d = json.loads((store.result_dir("lm_pairs", h) / "pairs.json").read_text())
    return {k: [tuple(x) for x in v] for k, v in d.items()}
