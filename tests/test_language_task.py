"""The RainbowPO miniature's task, tokenizer and judges (engine/language/task.py, tokenizer.py,
judges.py): parsing and correctness on fixed strings, the sampling frequencies of the SFT
demonstrations and the pretraining corpus, the tokenizer's round trip through AutoTokenizer,
the training judge's preferences, and the length-controlled fit against scikit-learn and
against a known generating model."""
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from engine.language import judges, task, tokenizer

P = task.Problem(12, 34)


def _within_3_sigma(count: int, n: int, prob: float) -> bool:
    return abs(count - n * prob) <= 3 * math.sqrt(n * prob * (1 - prob))


# ----------------------------------------------------------------------------- task
def test_problem_prompt_answer_and_render():
    assert (P.prompt, P.answer) == ("12+34=", 46)
    assert task.render(P, 46, explained=False, pad=0) == "46"
    assert task.render(P, 46, explained=True, pad=0) == "46 because 12+34=46"
    assert task.render(P, 45, explained=True, pad=2) == "45 because 12+34=45 ok ok"
    assert task.render(P, 46, explained=False, pad=1) == "46 ok"


def test_chars_is_the_alphabet_of_prompts_and_responses():
    assert set(task.CHARS) == set("0123456789+= becauseok") and len(task.CHARS) == len(set(task.CHARS))


@pytest.mark.parametrize("text, value", [("46", 46), ("46 ok", 46), ("7 because 3+4=7", 7), ("046", 46),
                                         ("", None), (" 46", None), ("ok 46", None), ("x", None)])
def test_parse_reads_the_leading_integer(text, value):
    assert task.parse(text) == value


@pytest.mark.parametrize("text, ok", [
    ("46", True), ("46 ok", True), ("46 ok ok ok", True), ("46 because 12+34=46", True),
    ("46 because 12+34=46 ok ok", True),
    ("45", False), ("47 ok", False), ("45 because 12+34=45", False),        # wrong value, consistent or not
    ("46 because 34+12=46", False),                                           # operands swapped
    ("46 because 12+33=46", False), ("46 because 12+34=45", False),           # inconsistent explanation
    ("46 because 12+34", False), ("46 because", False), ("46 because12+34=46", False),   # malformed
    ("46 ok because 12+34=46", False), ("46 o", False), ("46ok", False), ("46 ", False), ("", False),
])
def test_correct_on_fixed_strings(text, ok):
    assert task.correct(P, text) is ok


def test_problems_are_distinct_in_range_and_reproducible():
    ps = task.problems(100, 0, 9, seed=0)                  # every pair of [0, 9]^2 exactly once
    assert len(set(ps)) == 100 and all(0 <= p.a <= 9 and 0 <= p.b <= 9 for p in ps)
    assert task.problems(100, 0, 9, seed=0) == ps and task.problems(100, 0, 9, seed=1) != ps
    more = task.problems(300, 5, 9, seed=0)                # more than the 25 pairs: repeats allowed
    assert len(more) == 300 and {(p.a, p.b) for p in more} == {(a, b) for a in range(5, 10) for b in range(5, 10)}


def test_problems_cover_the_range_uniformly():
    ps = task.problems(2000, 10, 59, seed=3)
    sd_of_mean = math.sqrt((50 ** 2 - 1) / 12 / 2000)                    # uniform on 50 integers
    for side in ([p.a for p in ps], [p.b for p in ps]):
        assert min(side) == 10 and max(side) == 59
        assert abs(np.mean(side) - 34.5) < 3 * sd_of_mean


def test_sft_answer_frequencies_match_the_probabilities():
    rng = np.random.default_rng(0)
    n, explain_prob, error_prob, max_pad = 4000, 0.3, 0.2, 2
    ps = task.problems(n, 0, 3, seed=0)                    # small answers: the offset must keep values >= 0
    answers = [task.sft_answer(p, rng, explain_prob, error_prob, max_pad) for p in ps]
    values = [task.parse(a) for a in answers]
    errors = sum(v != p.answer for p, v in zip(ps, values))
    explained = sum(" because " in a for a in answers)
    pads = [a.count(" ok") for a in answers]
    assert _within_3_sigma(errors, n, error_prob) and _within_3_sigma(explained, n, explain_prob)
    assert all(_within_3_sigma(pads.count(k), n, 1 / (max_pad + 1)) for k in range(max_pad + 1))
    offsets = {v - p.answer for p, v in zip(ps, values)}
    assert offsets == {-3, -2, -1, 0, 1, 2, 3} and min(values) >= 0
    assert all(task.render(p, v, " because " in a, a.count(" ok")) == a for p, v, a in zip(ps, values, answers))


def test_pretrain_corpus_teaches_the_format_not_the_arithmetic():
    n = 3000
    texts = task.pretrain_corpus(n, 0, 49, seed=0)
    assert texts == task.pretrain_corpus(n, 0, 49, seed=0) and set("".join(texts)) <= set(task.CHARS)
    wrong = 0
    for t in texts:
        prompt, response = t[:t.index("=") + 1], t[t.index("=") + 1:]
        a, b = map(int, prompt[:-1].split("+"))
        p, value = task.Problem(a, b), task.parse(response)
        assert task.render(p, value, " because " in response, response.count(" ok")) == response
        assert 0 <= value <= 99
        wrong += not task.correct(p, response)
    assert _within_3_sigma(wrong, n, 0.5)
    assert _within_3_sigma(sum(" because " in t for t in texts), n, 0.5)


# ----------------------------------------------------------------------------- tokenizer
def test_tokenizer_round_trip_after_save_and_load(tmp_path):
    built = tokenizer.build(task.CHARS)
    tokenizer.save(built, tmp_path)
    tok = tokenizer.load(tmp_path)
    assert len(tok) == len(built) == 4 + len(set(task.CHARS))
    assert (tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token) == ("<pad>", "<bos>", "<eos>", "<unk>")
    specials = {tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id}
    assert specials == {0, 1, 2, 3}
    rng = np.random.default_rng(0)
    for _ in range(50):
        s = "".join(rng.choice(list(task.CHARS), size=int(rng.integers(1, 30))))
        ids = tok(s, add_special_tokens=False)["input_ids"]
        assert ids == built(s, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(s) and not specials & set(ids)             # one token per character
        assert tok.decode(ids) == s
    space = tok(" ", add_special_tokens=False)["input_ids"]
    assert len(space) == 1 and tok.decode(space) == " " and tok.decode(tok("a  b")["input_ids"]) == "a  b"
    framed = [tok.bos_token_id, *tok("46 ok", add_special_tokens=False)["input_ids"], tok.eos_token_id,
              tok.pad_token_id]
    assert tok.decode(framed, skip_special_tokens=True) == "46 ok"


def test_tokenizer_vocabulary_counts_distinct_characters():
    tok = tokenizer.build("abca ")
    assert len(tok) == 4 + 4
    assert tok("z", add_special_tokens=False)["input_ids"] == [tok.unk_token_id]


# ----------------------------------------------------------------------------- judges
@pytest.mark.parametrize("right, wrong", [("46", "45 because 12+34=45 ok ok ok ok ok ok"),
                                          ("46 because 12+34=46 ok", "4"), ("46", "47")])
def test_correct_beats_incorrect_whatever_the_lengths(right, wrong):
    assert judges.prefer(P, right, wrong) == 1 and judges.prefer(P, wrong, right) == 0


def test_train_score_formula():
    assert judges.train_score(P, "46 ok") == pytest.approx(2.0 + 0.05 * 5)
    assert judges.train_score(P, "45 ok ok") == pytest.approx(0.05 * 8)
    assert judges.prefer(P, "46", "45" + " ok" * 13) == 1                  # 39 characters longer: correct wins
    assert judges.prefer(P, "46", "45" + " ok" * 14) == 0                  # 42 longer: length outweighs 2.0


@pytest.mark.parametrize("long, short", [("46 ok", "46"), ("46 because 12+34=46", "46 ok ok"),
                                         ("45 because 12+34=45", "45"), ("44 ok", "4")])
def test_longer_wins_at_equal_correctness(long, short):
    assert judges.prefer(P, long, short) == 1 and judges.prefer(P, short, long) == 0


@pytest.mark.parametrize("a, b", [("46", "46"), ("46 ok", "46 ok"), ("45", "47"), ("47 ok", "10 ok")])
def test_equal_scores_are_a_tie(a, b):
    assert judges.prefer(P, a, b) is None


def test_win_probability_formula():
    def direct(dc, dl):
        return 1 / (1 + math.exp(-(4.0 * dc + math.tanh(dl / 10.0))))
    assert judges.win_probability(P, "46", "46") == pytest.approx(0.5)
    assert judges.win_probability(P, "46 ok", "45") == pytest.approx(direct(1, 3))
    assert judges.win_probability(P, "45", "46 because 12+34=46") == pytest.approx(direct(-1, -17))
    assert judges.win_probability(P, "45 ok ok", "47", kappa=1.0, nu=2.0, scale=5.0) == pytest.approx(
        1 / (1 + math.exp(-2.0 * math.tanh(6 / 5.0))))


def test_length_controlled_matches_sklearn():
    rng = np.random.default_rng(0)
    n, scale = 400, 10.0
    len_diff = rng.integers(-25, 40, n).astype(float)
    probs = np.clip(1 / (1 + np.exp(-(0.3 + 1.5 * np.tanh(len_diff / scale) + rng.normal(0, 1, n)))), 0, 1)
    got = judges.length_controlled(probs, len_diff, scale)
    x = np.tanh(len_diff / scale)[:, None]
    sk = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(
        np.vstack([x, x]), np.r_[np.ones(n), np.zeros(n)], sample_weight=np.r_[probs, 1 - probs])
    theta, phi = sk.intercept_[0], sk.coef_[0, 0]
    assert got["lc_win_rate"] == pytest.approx(1 / (1 + math.exp(-theta)), abs=1e-5)
    assert got["length_coef"] == pytest.approx(phi, abs=1e-4)
    assert math.log(got["lc_win_rate"] / (1 - got["lc_win_rate"])) == pytest.approx(theta, abs=1e-4)
    assert got["win_rate"] == pytest.approx(probs.mean())


def test_length_control_recovers_the_win_rate_at_equal_length():
    rng = np.random.default_rng(1)
    n, theta0, phi0, scale = 40_000, -0.5, 3.0, 10.0
    len_diff = rng.integers(-5, 40, n).astype(float)                       # the policy is mostly longer
    wins = (rng.random(n) < 1 / (1 + np.exp(-(theta0 + phi0 * np.tanh(len_diff / scale))))).astype(float)
    got = judges.length_controlled(wins, len_diff, scale)
    truth = 1 / (1 + math.exp(-theta0))
    assert got["win_rate"] > truth + 0.3
    assert got["lc_win_rate"] == pytest.approx(truth, abs=0.02)
    assert got["length_coef"] == pytest.approx(phi0, abs=0.3)


def test_a_calibration_set_identifies_the_length_coefficient_when_the_policy_is_uniformly_longer():
    """Every policy answer 20 characters longer: on its own data theta and phi are confounded, and
    the per-run fit lands anywhere on the ridge. A calibration set whose length differences vary (its
    own intercept, the same phi) pins phi, and sigmoid(theta_policy) comes back. The joint fit is
    checked against scikit-learn with a group indicator."""
    rng = np.random.default_rng(2)
    theta0, theta_c, phi0, scale, n = -0.4, 0.2, 1.5, 10.0, 20_000
    d_policy = 20.0 + rng.integers(-1, 2, n)                       # 19..21 characters longer
    d_calib = rng.integers(-30, 31, n).astype(float)
    mu = lambda th, d: 1 / (1 + np.exp(-(th + phi0 * np.tanh(d / scale))))  # noqa: E731
    y_policy = (rng.random(n) < mu(theta0, d_policy)).astype(float)
    y_calib = (rng.random(n) < mu(theta_c, d_calib)).astype(float)
    got = judges.length_controlled(y_policy, d_policy, scale, calibration=(y_calib, d_calib))
    assert got["lc_win_rate"] == pytest.approx(1 / (1 + math.exp(-theta0)), abs=0.03)
    assert got["length_coef"] == pytest.approx(phi0, abs=0.1)
    assert got["win_rate"] == pytest.approx(y_policy.mean())
    features = np.column_stack([np.r_[np.ones(n), np.zeros(n)], np.r_[np.zeros(n), np.ones(n)],
                                np.tanh(np.r_[d_policy, d_calib] / scale)])
    sk = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000, fit_intercept=False).fit(features, np.r_[y_policy, y_calib])
    assert got["length_coef"] == pytest.approx(sk.coef_[0, 2], abs=1e-4)
    assert got["lc_win_rate"] == pytest.approx(1 / (1 + math.exp(-sk.coef_[0, 0])), abs=1e-4)
    alone = judges.length_controlled(y_policy, d_policy, scale)          # the per-run fit: off the truth
    assert abs(alone["lc_win_rate"] - 1 / (1 + math.exp(-theta0))) > 0.05
