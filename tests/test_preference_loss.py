"""Tests of engine/algorithms/preference.py: every loss family against a direct computation in plain
python math on small ragged per-token lists, the chosen/rejected swap symmetry of the gradient at
initialisation, length invariances, RainbowPO's components (margin, ref_mix, contextual, sft) and
config validation."""
from __future__ import annotations

import math

import pytest
import torch

from engine.algorithms.preference import PreferenceLoss, pair_loss, sequence_logps

PAD = -9.0  # padding log-prob: any leak through the mask shows up in the results

POL_W = [[-0.5, -1.2, -0.3], [-2.0, -0.1], [-0.7, -0.9, -1.1, -0.4]]
POL_L = [[-1.5, -0.8], [-0.6, -1.9, -2.2, -0.5], [-1.3]]
REF_W = [[-0.6, -1.0, -0.5], [-1.7, -0.4], [-0.9, -0.8, -1.0, -0.6]]
REF_L = [[-1.2, -1.0], [-0.9, -1.5, -2.0, -0.7], [-1.0]]


# ----------------------------------------------------------------------------- helpers
def padded(rows: list[list[float]], width: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, width] float64 log-probs padded with PAD, and the 0/1 mask."""
    values = torch.full((len(rows), width), PAD, dtype=torch.float64)
    mask = torch.zeros((len(rows), width), dtype=torch.float64)
    for i, row in enumerate(rows):
        values[i, :len(row)] = torch.tensor(row, dtype=torch.float64)
        mask[i, :len(row)] = 1.0
    return values, mask


def run(cfg: PreferenceLoss, pol_w=POL_W, pol_l=POL_L, ref_w=REF_W, ref_l=REF_L, phi=None):
    (pw, mw), (pl, ml) = padded(pol_w), padded(pol_l)
    return pair_loss(cfg, pw, mw, pl, ml, padded(ref_w)[0], padded(ref_l)[0], phi)


def seq(row: list[float], norm: bool) -> float:
    return sum(row) / len(row) if norm else sum(row)


def log_sigmoid(x: float) -> float:
    return -math.log(1 + math.exp(-x))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def nll(row: list[float]) -> float:
    return -sum(row) / len(row)


def dpo_u(i: int, beta: float, norm: bool, gamma: float = 0.0, alpha: float = 1.0) -> float:
    h = (seq(POL_W[i], norm) - seq(POL_L[i], norm)) - alpha * (seq(REF_W[i], norm) - seq(REF_L[i], norm))
    return beta * h - gamma


LINKS = {"sigmoid": lambda u: -log_sigmoid(u), "hinge": lambda u: max(0.0, 1 - u),
         "square": lambda u: (u - 1) ** 2, "cauchy": lambda u: -math.log(0.5 + math.atan(u) / math.pi)}


def close(tensor: torch.Tensor, values: list[float]) -> None:
    assert torch.allclose(tensor, torch.tensor(values, dtype=torch.float64), atol=1e-10), (tensor, values)


# ----------------------------------------------------------------------------- 1. each family
def test_sequence_logps_sum_and_mean():
    values, mask = padded(POL_W)
    close(sequence_logps(values, mask, False), [sum(r) for r in POL_W])
    close(sequence_logps(values, mask, True), [sum(r) / len(r) for r in POL_W])


@pytest.mark.parametrize("link", list(LINKS))
@pytest.mark.parametrize("norm,beta,gamma,alpha", [(False, 0.5, 0.0, 1.0), (True, 2.0, 0.3, 0.6)])
def test_dpo_links_match_direct_formula(link, norm, beta, gamma, alpha):
    cfg = PreferenceLoss(loss="dpo", beta=beta, length_norm=norm, link=link, margin=gamma, ref_mix=alpha)
    loss, stats = run(cfg)
    us = [dpo_u(i, beta, norm, gamma, alpha) for i in range(3)]
    close(loss, [LINKS[link](u) for u in us])
    close(stats["margin"], us)
    close(stats["implicit_acc"], [float(u > 0) for u in us])
    close(stats["chosen_reward"], [beta * (seq(POL_W[i], norm) - seq(REF_W[i], norm)) for i in range(3)])
    close(stats["rejected_reward"], [beta * (seq(POL_L[i], norm) - seq(REF_L[i], norm)) for i in range(3)])


@pytest.mark.parametrize("norm", [False, True])
def test_ipo_matches_direct_formula(norm):
    tau = 0.4
    loss, stats = run(PreferenceLoss(loss="ipo", beta=tau, length_norm=norm, margin=0.7, ref_mix=0.2))
    hs = [dpo_u(i, 1.0, norm) for i in range(3)]  # ref_mix forced to 1, margin ignored
    close(loss, [(h - 1 / (2 * tau)) ** 2 for h in hs])
    close(stats["margin"], hs)


def test_simpo_matches_direct_formula():
    beta, gamma = 2.5, 0.4
    loss, stats = run(PreferenceLoss(loss="simpo", beta=beta, margin=gamma))
    us = [beta * (sum(w) / len(w) - sum(l) / len(l)) - gamma for w, l in zip(POL_W, POL_L)]
    close(loss, [-log_sigmoid(u) for u in us])
    close(stats["margin"], us)


def test_simpo_ignores_reference():
    cfg = PreferenceLoss(loss="simpo", beta=2.0)
    shifted = [[v - 1.0 for v in row] for row in REF_W]
    assert torch.equal(run(cfg)[0], run(cfg, ref_w=shifted)[0])


def test_orpo_matches_direct_formula():
    lam = 0.3
    loss, stats = run(PreferenceLoss(loss="orpo", orpo_lambda=lam))

    def log_odds(row: list[float]) -> float:
        p = math.exp(sum(row) / len(row))
        return math.log(p / (1 - p))

    diffs = [log_odds(w) - log_odds(l) for w, l in zip(POL_W, POL_L)]
    close(loss, [nll(w) - lam * log_sigmoid(d) for w, d in zip(POL_W, diffs)])
    close(stats["margin"], diffs)


def test_orpo_is_finite_when_a_response_is_certain():
    """A chosen response of probability 1 (mean log-prob 0) has infinite odds unless clamped."""
    (pw, mw), (pl, ml) = padded([[0.0, 0.0], [-0.1], [0.0]]), padded(POL_L)
    pw.requires_grad_(True)
    loss, stats = pair_loss(PreferenceLoss(loss="orpo"), pw, mw, pl, ml, padded(REF_W)[0], padded(REF_L)[0])
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(stats["margin"]).all() and torch.isfinite(pw.grad).all()


def kto_oracle(ref_w, ref_l, beta, lam_d, lam_u, norm) -> tuple[list[float], float]:
    r_w = [seq(p, norm) - seq(r, norm) for p, r in zip(POL_W, ref_w)]
    r_l = [seq(p, norm) - seq(r, norm) for p, r in zip(POL_L, ref_l)]
    z0 = max(0.0, sum((a + b) / 2 for a, b in zip(r_w, r_l)) / len(r_w))
    losses = [lam_d * (1 - sigmoid(beta * (a - z0))) + lam_u * (1 - sigmoid(beta * (z0 - b)))
              for a, b in zip(r_w, r_l)]
    return losses, z0


@pytest.mark.parametrize("shift,positive_z0", [(0.0, False), (0.5, True)])
@pytest.mark.parametrize("norm", [False, True])
def test_kto_matches_direct_formula(shift, positive_z0, norm):
    """shift lowers the reference's log-probs, so the batch KL estimate z0 is positive (or clamped to 0)."""
    ref_w = [[v - shift for v in row] for row in REF_W]
    ref_l = [[v - shift for v in row] for row in REF_L]
    beta, lam_d, lam_u = 0.8, 1.0, 1.5
    expected, z0 = kto_oracle(ref_w, ref_l, beta, lam_d, lam_u, norm)
    assert (z0 > 0) == positive_z0
    cfg = PreferenceLoss(loss="kto", beta=beta, length_norm=norm, kto_desirable=lam_d, kto_undesirable=lam_u)
    loss, stats = run(cfg, ref_w=ref_w, ref_l=ref_l)
    close(loss, expected)
    close(stats["margin"], [(seq(pw, norm) - seq(rw, norm)) - (seq(pl, norm) - seq(rl, norm))
                            for pw, pl, rw, rl in zip(POL_W, POL_L, ref_w, ref_l)])


def test_kto_reference_point_carries_no_gradient():
    """With z0 held fixed, d loss_i / d pol_w[i, t] = -lambda_D beta s (1 - s), s = sigmoid(beta (r_w - z0))."""
    ref_w = [[v - 0.5 for v in row] for row in REF_W]
    ref_l = [[v - 0.5 for v in row] for row in REF_L]
    beta = 0.8
    _, z0 = kto_oracle(ref_w, ref_l, beta, 1.0, 1.0, False)
    (pw, mw), (pl, ml) = padded(POL_W), padded(POL_L)
    pw.requires_grad_(True)
    loss, _ = pair_loss(PreferenceLoss(loss="kto", beta=beta), pw, mw, pl, ml, padded(ref_w)[0], padded(ref_l)[0])
    loss.sum().backward()
    for i, (p, r) in enumerate(zip(POL_W, ref_w)):
        s = sigmoid(beta * (sum(p) - sum(r) - z0))
        close(pw.grad[i, :len(p)], [-beta * s * (1 - s)] * len(p))
        assert (pw.grad[i, len(p):] == 0).all()


# ----------------------------------------------------------------------------- 2. swap symmetry
@pytest.mark.parametrize("cfg", [PreferenceLoss(loss="dpo", link=link, length_norm=norm)
                                 for link in ("sigmoid", "hinge", "cauchy") for norm in (False, True)]
                         + [PreferenceLoss(loss="ipo", length_norm=norm) for norm in (False, True)])
def test_swapping_chosen_and_rejected_negates_the_gradient_at_initialisation(cfg):
    (w, mw), (l, ml) = padded(POL_W), padded(POL_L)

    def grads(first, m_first, second, m_second):
        a, b = first.clone().requires_grad_(True), second.clone().requires_grad_(True)
        loss, _ = pair_loss(cfg, a, m_first, b, m_second, first, second)  # policy == reference
        loss.sum().backward()
        return a.grad, b.grad

    grad_w, grad_l = grads(w, mw, l, ml)
    swapped_l, swapped_w = grads(l, ml, w, mw)  # the swapped call's chosen response is the original rejected
    assert (grad_w[mw > 0] != 0).all() and (grad_l[ml > 0] != 0).all()
    assert torch.allclose(swapped_l, -grad_l, atol=1e-12)
    assert torch.allclose(swapped_w, -grad_w, atol=1e-12)


# ----------------------------------------------------------------------------- 3. length invariances
def appended(rows: list[list[float]], tokens: list[float]) -> list[list[float]]:
    return [row + [t] for row, t in zip(rows, tokens)]


def test_zero_log_ratio_tokens_leave_summed_dpo_unchanged():
    cfg = PreferenceLoss(loss="dpo", beta=0.5)
    base = run(cfg)[0]
    extra = [-1.3, -0.2, -2.4]
    same = run(cfg, pol_w=appended(POL_W, extra), ref_w=appended(REF_W, extra),
               pol_l=appended(POL_L, extra), ref_l=appended(REF_L, extra))[0]
    assert torch.allclose(same, base, atol=1e-12)
    changed = run(cfg, pol_w=appended(POL_W, extra), ref_w=appended(REF_W, [t - 0.5 for t in extra]))[0]
    assert ((changed - base).abs() > 1e-3).all()


def test_mean_log_ratio_token_leaves_length_normalised_dpo_unchanged():
    cfg = PreferenceLoss(loss="dpo", beta=2.0, length_norm=True)
    base = run(cfg)[0]
    mean_ratio = [(sum(p) - sum(r)) / len(p) for p, r in zip(POL_W, REF_W)]
    pol_tokens = [-1.0, -0.3, -2.0]
    ref_tokens = [t - m for t, m in zip(pol_tokens, mean_ratio)]
    same = run(cfg, pol_w=appended(POL_W, pol_tokens), ref_w=appended(REF_W, ref_tokens))[0]
    assert torch.allclose(same, base, atol=1e-12)
    changed = run(cfg, pol_w=appended(POL_W, pol_tokens), ref_w=appended(REF_W, [t - 0.5 for t in ref_tokens]))[0]
    assert ((changed - base).abs() > 1e-3).all()


# ----------------------------------------------------------------------------- 4. margin and ref_mix
def test_ref_mix_zero_makes_dpo_independent_of_the_reference():
    other_w = [[v - 0.7 for v in row] for row in REF_W]
    other_l = [[v + 0.2 for v in row] for row in REF_L]
    no_ref = PreferenceLoss(loss="dpo", beta=0.5, ref_mix=0.0)
    assert torch.equal(run(no_ref)[0], run(no_ref, ref_w=other_w, ref_l=other_l)[0])
    half = PreferenceLoss(loss="dpo", beta=0.5, ref_mix=0.5)
    assert not torch.allclose(run(half)[0], run(half, ref_w=other_w, ref_l=other_l)[0])


def test_margin_raises_the_sigmoid_loss():
    plain = run(PreferenceLoss(loss="dpo", beta=0.5))[0]
    with_margin = run(PreferenceLoss(loss="dpo", beta=0.5, margin=0.4))[0]
    assert (with_margin > plain).all()


# ----------------------------------------------------------------------------- 5. contextual
def test_contextual_phi_two_equals_doubled_beta():
    phi = torch.full((3,), 2.0, dtype=torch.float64)
    loss, stats = run(PreferenceLoss(loss="dpo", beta=0.3, contextual=True), phi=phi)
    loss2, stats2 = run(PreferenceLoss(loss="dpo", beta=0.6))
    assert torch.allclose(loss, loss2, atol=1e-12)
    assert torch.allclose(stats["chosen_reward"], stats2["chosen_reward"], atol=1e-12)


def test_contextual_phi_scales_beta_per_example():
    phi = [0.5, 1.0, 3.0]
    loss, _ = run(PreferenceLoss(loss="dpo", beta=0.3, contextual=True), phi=torch.tensor(phi, dtype=torch.float64))
    close(loss, [-log_sigmoid(dpo_u(i, 0.3 * phi[i], False)) for i in range(3)])
    ignored, _ = run(PreferenceLoss(loss="dpo", beta=0.3), phi=torch.tensor(phi, dtype=torch.float64))
    close(ignored, [-log_sigmoid(dpo_u(i, 0.3, False)) for i in range(3)])


# ----------------------------------------------------------------------------- 6. sft term
@pytest.mark.parametrize("family", ["dpo", "ipo", "simpo", "orpo", "kto"])
def test_sft_weight_adds_the_chosen_nll(family):
    weight = 0.7
    plain = run(PreferenceLoss(loss=family, beta=0.5))[0]
    with_sft = run(PreferenceLoss(loss=family, beta=0.5, sft_weight=weight))[0]
    close(with_sft - plain, [weight * nll(w) for w in POL_W])


# ----------------------------------------------------------------------------- 7. validation
@pytest.mark.parametrize("kwargs", [{"loss": "rlhf"}, {"link": "tanh"}, {"beta": 0.0}, {"beta": -1.0},
                                    {"beta": float("nan")}, {"ref_mix": -0.1}, {"ref_mix": 1.5},
                                    {"margin": -0.2}, {"sft_weight": -1.0}, {"orpo_lambda": -0.1},
                                    {"kto_desirable": -1.0}, {"kto_undesirable": -1.0}])
def test_bad_configs_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PreferenceLoss(**kwargs)
