"""The two judges of the RainbowPO miniature: a length-biased training judge that labels the
preference pairs, and a length-controlled evaluation judge in the manner of AlpacaEval LC.

Training judge (known length bias, the pathology the preference variants must cope with):
    train_score(p, y) = 2.0 * correct(p, y) + 0.05 * len(y)          (len in characters)
    prefer(p, y_a, y_b) = 1 if score(y_a) > score(y_b), 0 if lower, None if equal.
At equal correctness it always prefers the longer answer, so padding (" ok") and explanations
win pairs without being any more right. Correctness outweighs length while the two answers
differ by fewer than 2.0 / 0.05 = 40 characters.

Evaluation judge, against a reference answer to the same prompt (the SFT model's):
    win_probability = sigmoid(kappa * (c_policy - c_ref) + nu * tanh((len_policy - len_ref) / scale))
with c = correct(p, answer) in {0, 1}: a judge that rewards correctness and also likes length.

Length control (AlpacaEval LC): fit the logistic GLM
    y_i ~ Bernoulli(sigmoid(theta + phi * x_i)),   x_i = tanh(len_diff_i / scale),
to the soft outcomes y_i = win probabilities by maximum likelihood (the Bernoulli
log-likelihood sum_i y_i log mu_i + (1 - y_i) log(1 - mu_i) is valid for y in [0, 1]), by Newton's
method: with X = [1, x], mu = sigmoid(X w), W = diag(mu (1 - mu)),
    w <- w + (X^T W X)^-1 X^T (y - mu).
The length-controlled win rate is sigmoid(theta): the win rate the fit predicts at zero length
difference. (If every length difference is equal, theta and phi are not separately identified and
the minimum-norm Newton step is taken.)
"""
from __future__ import annotations

import numpy as np

from .task import Problem, correct

CORRECT_WEIGHT = 2.0
LENGTH_WEIGHT = 0.05


def sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-z))


def train_score(p: Problem, text: str) -> float:
    """2.0 for a correct answer plus 0.05 per character."""
    return CORRECT_WEIGHT * correct(p, text) + LENGTH_WEIGHT * len(text)


def prefer(p: Problem, text_a: str, text_b: str) -> int | None:
    """1 if the training judge scores a higher, 0 if b, None on a tie."""
    sa, sb = train_score(p, text_a), train_score(p, text_b)
    if sa == sb:
        return None
    return 1 if sa > sb else 0


def win_probability(p: Problem, policy_text: str, ref_text: str, kappa: float = 4.0, nu: float = 1.0,
                    scale: float = 10.0) -> float:
    """Probability that the evaluation judge prefers the policy's answer to the reference's."""
    dc = float(correct(p, policy_text)) - float(correct(p, ref_text))
    dl = (len(policy_text) - len(ref_text)) / scale
    return float(sigmoid(kappa * dc + nu * np.tanh(dl)))


def _fit_logistic(x: np.ndarray, y: np.ndarray, group: np.ndarray | None = None, iters: int = 100,
                  tol: float = 1e-12) -> np.ndarray:
    """(theta_0, ..., theta_{G-1}, phi) maximising the Bernoulli log-likelihood of
    y ~ sigmoid(theta_group + phi x), by Newton (one group when `group` is None)."""
    group = np.zeros(len(x), dtype=int) if group is None else np.asarray(group, dtype=int)
    design = np.column_stack([group == g for g in range(group.max() + 1)] + [x]).astype(float)
    w = np.zeros(design.shape[1])
    for _ in range(iters):
        mu = sigmoid(design @ w)
        hessian = design.T @ (design * (mu * (1 - mu))[:, None])
        step = np.linalg.lstsq(hessian, design.T @ (y - mu), rcond=None)[0]
        w = w + step
        if np.max(np.abs(step)) < tol:
            break
    return w


def length_controlled(probs: np.ndarray, len_diff: np.ndarray, scale: float = 10.0,
                      calibration: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Raw and length-controlled win rates, and the fitted length coefficient phi.

    calibration: (probs, len_diff) of comparisons whose lengths vary at roughly equal quality (the
    reference model's sampled answers against its greedy ones). They get their own intercept and
    share phi, as AlpacaEval LC shares structure across models: without them a policy whose
    answers are all about equally longer leaves theta and phi confounded, and sigmoid(theta) is an
    extrapolation far outside the data. The rates are the policy's alone."""
    y = np.asarray(probs, dtype=float)
    x = np.tanh(np.asarray(len_diff, dtype=float) / scale)
    group = np.zeros(len(y), dtype=int)
    if calibration is not None:
        cy, cx = np.asarray(calibration[0], dtype=float), np.tanh(np.asarray(calibration[1], dtype=float) / scale)
        y, x, group = np.concatenate([y, cy]), np.concatenate([x, cx]), np.concatenate([group, np.ones(len(cy), int)])
    w = _fit_logistic(x, y, group)
    return {"lc_win_rate": float(sigmoid(w[0])), "win_rate": float(np.mean(probs)), "length_coef": float(w[-1])}
