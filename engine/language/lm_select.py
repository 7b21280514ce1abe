"""lm_select: greedy forward selection of RainbowPO components. Start from DPO; in each round try
adding every remaining component, each scored by the mean validation LC win rate over the
validation seeds (their own pairs from the pair prompts, evaluation on the validation prompts);
keep the best if it beats the current combination by more than `min_gain`, else stop. The test
prompts and the runs' seeds are never seen here."""
from __future__ import annotations

import json

import numpy as np

from .. import progress
from ..algorithms.preference_kind import COMPONENTS
from ..stages.common import setup_torch
from . import tuning


def run(instance, out_dir, log) -> dict:
    setup_torch()
    cfg = instance.config
    alg = {**cfg["algorithm"], "variant": "dpo"}
    sft, tok, split = tuning.load_sft(instance.upstream[0])
    validation = tuning.reference(sft, tok, split["validation"], cfg["max_new"])     # the same for every candidate
    seeds = alg["validation_seeds"]
    pairs = {s: tuning.build_pairs(sft, tok, split["pairs"], cfg["pairs"], cfg["max_new"], s) for s in seeds}
    history, trained = [], 0
    bar = progress.bar(len(COMPONENTS) * (len(COMPONENTS) + 1) // 2 + 1, "lm_select", unit="candidate")

    def score(components: tuple[str, ...]) -> float:
        nonlocal trained
        values = []
        for s in seeds:
            data = pairs[s]["rejection" if "rejection" in components else "plain"]
            policy, _ = tuning.train_policy(sft, tok, data, alg, "dpo", components, s)
            values.append(tuning.evaluate(policy, sft, tok, split["validation"], cfg["max_new"], validation)["lc_win_rate"])
            trained += 1
        bar.update(1)
        history.append({"components": list(components), "validation_lc": values})
        log(f"  {'+'.join(('dpo',) + components)}: validation LC {np.mean(values):.3f}")
        return float(np.mean(values))

    current, best = (), score(())
    dpo_lc = best
    while len(current) < len(COMPONENTS):
        tried = {c: score(current + (c,)) for c in COMPONENTS if c not in current}
        c, value = max(tried.items(), key=lambda kv: kv[1])
        if value <= best + alg["min_gain"]:
            break
        current, best = current + (c,), value
        log(f"round {len(current)}: + {c} (validation LC {value:.3f})")
    bar.close()
    (out_dir / "selection.json").write_text(json.dumps({"components": list(current), "history": history}, indent=1))
    metrics = {"selected": len(current), "validation_lc": best, "validation_lc_dpo": dpo_lc,
               "candidates_trained": trained}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    log(f"selected: dpo + {', '.join(current) or 'nothing'}")
    return metrics
