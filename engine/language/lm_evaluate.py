"""lm_evaluate: greedy answers of the tuned policy and of the SFT model on the test prompts, the
evaluation judge's win probabilities, and the length-controlled win rate (tuning.evaluate)."""
from __future__ import annotations

import json
from functools import lru_cache

from ..stages.common import setup_torch
from . import task, tuning
from .samples import save_answer_grid


@lru_cache(maxsize=2)
def _reference(sft_hash: str, max_new: int):
    """The SFT model, its test prompts and its reference answers: once per job, not once per run
    (a job evaluates every run of a spec, and they share one SFT model)."""
    sft, tok, split = tuning.load_sft(sft_hash)
    return sft, split["test"], tuning.reference(sft, tok, split["test"], max_new)


def run(instance, out_dir, log) -> dict:
    setup_torch()
    po_hash, sft_hash = instance.upstream
    policy, tok, _ = tuning.load_model("lm_po", po_hash)
    sft, problems, ref_answers = _reference(sft_hash, instance.config["max_new"])
    result = tuning.evaluate(policy, sft, tok, problems, instance.config["max_new"], ref_answers)
    answers = result.pop("answers")
    (out_dir / "answers.json").write_text(json.dumps(answers[:50], indent=0))
    by_prompt = {p.prompt: p for p in problems}
    save_answer_grid(answers, [(task.correct(by_prompt[p], a), task.correct(by_prompt[p], b)) for p, a, b in answers],
                     out_dir / "samples_answers.png")
    (out_dir / "metrics.json").write_text(json.dumps(result))
    log(f"LC win rate {result['lc_win_rate']:.3f}, raw {result['win_rate']:.3f}, length {result['mean_length']:.1f} "
        f"(SFT {result['ref_length']:.1f}), accuracy {result['accuracy']:.3f} (SFT {result['ref_accuracy']:.3f})")
    return result
