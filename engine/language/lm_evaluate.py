"""lm_evaluate: greedy answers of the tuned policy and of the SFT model on the test prompts, the
evaluation judge's win probabilities, and the length-controlled win rate (tuning.evaluate)."""
from __future__ import annotations

import json

from ..stages.common import setup_torch
from . import lm_pretrain, task, tuning
from .samples import save_answer_grid


def run(instance, out_dir, log) -> dict:
    setup_torch()
    po_hash, sft_hash = instance.upstream
    policy, tok, _ = lm_pretrain.load("lm_po", po_hash)
    sft, _, sft_prov = lm_pretrain.load("lm_sft", sft_hash)
    problems = tuning.splits(lm_pretrain.data_config(sft_prov["upstream"][0]))["test"]
    result = tuning.evaluate(policy, sft, tok, problems, instance.config["max_new"])
    answers = result.pop("answers")
    (out_dir / "answers.json").write_text(json.dumps(answers[:50], indent=0))
    by_prompt = {p.prompt: p for p in problems}
    save_answer_grid(answers, [(task.correct(by_prompt[p], a), task.correct(by_prompt[p], b)) for p, a, b in answers],
                     out_dir / "samples_answers.png")
    (out_dir / "metrics.json").write_text(json.dumps(result))
    log(f"LC win rate {result['lc_win_rate']:.3f}, raw {result['win_rate']:.3f}, length {result['mean_length']:.1f} "
        f"(SFT {result['ref_length']:.1f}), accuracy {result['accuracy']:.3f} (SFT {result['ref_accuracy']:.3f})")
    return result
