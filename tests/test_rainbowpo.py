"""The RainbowPO miniature's language-model family (engine/language/): masks and log-probabilities
against a direct computation, KV-cached generation against recomputing the whole sequence, the
save/load round trip through the Auto classes, the sign check (flipped labels lower the judge's
win rate), and the greedy selection's choice. The loss module has its own tests
(tests/test_preference_loss.py); the spec runs end to end in the shared smoke store."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerFast

from engine.algorithms.preference import sequence_logps
from engine.language import judges, lm, task, tokenizer, tuning

ARCH = {"hidden": 32, "intermediate": 64, "layers": 1, "heads": 2, "max_length": 48}


@pytest.fixture(scope="module")
def tok():
    return tokenizer.build(task.CHARS)


@pytest.fixture(scope="module")
def sft(tok):
    """A tiny model trained on SFT demonstrations from scratch (enough to answer in the format)."""
    torch.manual_seed(0)
    problems = task.problems(200, 0, 9, seed=0)
    rng = np.random.default_rng(0)
    responses = [task.sft_answer(p, rng, explain_prob=0.5, error_prob=0.2, max_pad=1) for p in problems]
    model = lm.build(ARCH, tok, seed=0)
    lm.train_lm(model, tok, [p.prompt for p in problems], responses, 150, 32, 1e-2, torch.Generator().manual_seed(0),
                full_sequence=False)
    return model.eval()


def test_encode_masks_the_response_and_eos_only(tok):
    b = lm.encode(tok, ["1+2=", "10+20="], ["3", "30 ok"])
    assert b.ids.shape == (2, 1 + 6 + 5 + 1)
    for i, (p, r) in enumerate([("1+2=", "3"), ("10+20=", "30 ok")]):
        predicted = b.ids[i, 1:][b.response[i].bool()].tolist()
        assert tok.decode(predicted[:-1]) == r and predicted[-1] == tok.eos_token_id
        assert b.attention[i].sum() == 1 + len(p) + len(r) + 1


def test_token_logps_match_a_direct_computation(tok, sft):
    b = lm.encode(tok, ["3+4=", "12+5="], ["7", "17 because 12+5=17"])
    got = lm.token_logps(sft, b)
    for i in range(2):
        n = int(b.attention[i].sum())
        logits = sft(input_ids=b.ids[i:i + 1, :n]).logits[0]           # the row alone, unpadded
        want = [F.log_softmax(logits[t], -1)[b.ids[i, t + 1]] for t in range(n - 1)]
        assert torch.allclose(got[i, :n - 1], torch.stack(want), atol=1e-5)


def test_cached_generation_equals_recomputing_the_whole_sequence(tok, sft):
    prompts = ["3+4=", "5+5=", "12+30="]
    fast = lm.generate(sft, tok, prompts, max_new=15, temperature=0.0)
    for p, answer in zip(prompts, fast):
        ids = [tok.bos_token_id, *tok(p, add_special_tokens=False)["input_ids"]]
        out = []
        for _ in range(15):
            nxt = int(sft(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            if nxt == tok.eos_token_id:
                break
            ids.append(nxt)
            out.append(nxt)
        assert answer == tok.decode(out)


def test_sampling_is_seeded(tok, sft):
    draw = lambda s: lm.generate(sft, tok, ["3+4="] * 6, 10, 1.0, torch.Generator().manual_seed(s))  # noqa: E731
    assert draw(1) == draw(1) and draw(1) != draw(2)


def test_save_and_load_through_the_auto_classes(tok, sft, tmp_path):
    lm.save(sft, tok, tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file() and not list((tmp_path / "m").glob("*.bin"))
    model, tok2 = lm.load(tmp_path / "m")
    assert isinstance(tok2, PreTrainedTokenizerFast) and tok2("1+2= ok")["input_ids"] == tok("1+2= ok")["input_ids"]
    b = lm.encode(tok, ["3+4="], ["7"])
    assert torch.equal(lm.token_logps(model.eval(), b), lm.token_logps(sft, b))


def _long_short(problems):
    prompts = [p.prompt for p in problems]
    return (prompts, [task.render(p, p.answer, explained=True, pad=0) for p in problems],
            [task.render(p, p.answer, explained=False, pad=0) for p in problems])


ALG = {"beta": 0.1, "beta_normalised": 2.0, "link": "cauchy", "margin": 0.5, "ref_mix": 0.75, "sft_weight": 0.1,
       "steps": 30, "batch_size": 16, "lr": 5e-4}


@pytest.fixture(scope="module")
def tuned(tok, sft):
    """Each base loss trained on pairs whose chosen side is the explained (longer) right answer, and on
    the same pairs with the labels swapped."""
    prompts, long, short = _long_short(task.problems(64, 0, 9, seed=1))
    return {(base, name): tuning.train_policy(sft, tok, list(zip(prompts, *sides)), ALG, base, (), seed=0)[0]
            for base in ("dpo", "ipo", "simpo", "orpo", "kto")
            for name, sides in (("labels", (long, short)), ("flipped", (short, long)))}


@pytest.mark.parametrize("base", ["dpo", "ipo", "simpo", "orpo", "kto"])
def test_flipped_labels_move_the_held_out_preference_the_other_way(tok, sft, tuned, base):
    """The sign check of every base loss: on held-out prompts, the policy's log-probability margin of
    the explained answer over the short one rises above the SFT model's with the labels, and falls
    below it with the labels swapped: summed log-probabilities, or per-token means for the losses
    that optimise those (simpo, orpo)."""
    prompts, long, short = _long_short(task.problems(40, 0, 9, seed=2))
    w, l = lm.encode(tok, prompts, long), lm.encode(tok, prompts, short)
    per_token = base in ("simpo", "orpo")

    def margin(model):
        with torch.no_grad():
            s_w = sequence_logps(lm.token_logps(model, w), w.response, per_token)
            return float((s_w - sequence_logps(lm.token_logps(model, l), l.response, per_token)).mean())
    assert margin(tuned[base, "labels"]) > margin(sft) > margin(tuned[base, "flipped"])


def test_flipped_labels_lower_the_judges_win_rate(tok, sft, tuned):
    """DPO on the long-preferring pairs lengthens the answers, which the length-liking evaluation judge
    rewards; with the labels swapped it shortens them and the win rate falls. The test's SFT model is
    weak (about a quarter of its answers are right), so tuning costs some accuracy either way: the
    check is the direction, not a win over the SFT model."""
    held_out = task.problems(40, 0, 9, seed=2)
    labels, flipped = (tuning.evaluate(tuned["dpo", n], sft, tok, held_out, max_new=30) for n in ("labels", "flipped"))
    assert labels["mean_length"] > labels["ref_length"] > flipped["mean_length"]
    assert labels["win_rate"] > flipped["win_rate"] + 0.1


def test_pairs_prefer_correct_then_longer_answers(tok, sft):
    problems = task.problems(20, 0, 9, seed=3)
    pairs = tuning.build_pairs(sft, tok, problems, {"samples": 4, "temperature": 1.0, "rejection_beta": 0.5},
                               max_new=30, seed=0)
    by_prompt = {p.prompt: p for p in problems}
    assert pairs["plain"]
    for prompt, chosen, rejected in pairs["plain"] + pairs["rejection"]:
        assert judges.prefer(by_prompt[prompt], chosen, rejected) == 1
    again = tuning.build_pairs(sft, tok, problems, {"samples": 4, "temperature": 1.0, "rejection_beta": 0.5},
                               max_new=30, seed=0)
    assert json.dumps(again) == json.dumps(pairs)


def test_loss_config_of_each_component():
    alg = {"beta": 0.1, "beta_normalised": 2.0, "link": "cauchy", "margin": 0.5, "ref_mix": 0.75, "sft_weight": 0.1}
    plain = tuning.loss_config(alg, ())
    assert (plain.loss, plain.beta, plain.length_norm, plain.link, plain.margin, plain.ref_mix, plain.contextual,
            plain.sft_weight) == ("dpo", 0.1, False, "sigmoid", 0.0, 1.0, False, 0.0)
    every = tuning.loss_config(alg, ("length_norm", "link", "margin", "ref_mix", "contextual", "sft"))
    assert (every.beta, every.length_norm, every.link, every.margin, every.ref_mix, every.contextual,
            every.sft_weight) == (2.0, True, "cauchy", 0.5, 0.75, True, 0.1)
    assert tuning.variant_parts("rainbow", ("sft",)) == ("dpo", ("sft",))
    assert tuning.variant_parts("dpo+ref_mix") == ("dpo", ("ref_mix",))
