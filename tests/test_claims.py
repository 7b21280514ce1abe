"""Claims judged with statistics: each statistic against scipy, verdicts on made-up results
(fake accessors, no store), and the claim models on real spec files."""
import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats as sps

from engine.report import stats
from engine.report.claims import evaluate_claim, render_claims
from engine.spec.claims import Claim, references
from engine.errors import SpecError
from engine.spec.resolve import expand, load_and_expand, load_spec

from .conftest import ROOT

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


# ----------------------------------------------------------------------------- statistics
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_t_interval_matches_scipy(level):
    x = [0.3, 1.1, -0.4, 0.8, 0.5]
    iv = stats.t_interval(x, level)
    lo, hi = sps.ttest_1samp(x, 0.0).confidence_interval(level)
    assert (iv.mean, iv.n) == (pytest.approx(np.mean(x)), 5)
    assert (iv.lo, iv.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert (iv.lo, iv.hi) == pytest.approx(sps.t.interval(level, 4, loc=np.mean(x), scale=sps.sem(x)))


def test_t_interval_one_value_is_undefined_and_no_spread_is_a_point():
    one = stats.t_interval([2.0])
    assert one.mean == 2.0 and one.n == 1 and math.isnan(one.lo) and math.isnan(one.hi)
    assert tuple(stats.t_interval([1.5, 1.5, 1.5])) == (1.5, 1.5, 1.5, 3)


def test_paired_t_interval_matches_scipy():
    a, b = [1.0, 2.5, 3.1, 0.2], [0.4, 2.0, 3.3, -0.5]
    iv = stats.paired_t_interval(a, b)
    assert (iv.lo, iv.hi) == pytest.approx(tuple(sps.ttest_rel(a, b).confidence_interval(0.95)))


@pytest.mark.parametrize("xs, ys", [([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]),
                                    ([1, 1, 2, 3, 3], [5, 4, 4, 1, 0]),       # ties on both sides
                                    ([0.1, 0.5, 0.2], [3, 3, 7])])
def test_spearman_matches_scipy(xs, ys):
    assert stats.spearman(xs, ys) == pytest.approx(sps.spearmanr(xs, ys).statistic)


def test_spearman_of_a_constant_is_zero():
    assert stats.spearman([1, 2, 3], [4, 4, 4]) == 0.0


@pytest.mark.parametrize("lo, hi, threshold, direction, expected", [
    (0.1, 0.5, 0.0, "greater", HOLDS),
    (-0.2, 0.5, 0.0, "greater", INCONCLUSIVE),
    (-0.5, -0.1, 0.0, "greater", FAILS),
    (0.0, 0.0, 0.0, "greater", FAILS),               # exactly no effect: not above the threshold
    (0.05, 0.2, 0.1, "greater", INCONCLUSIVE),      # above 0 but not surely above min_effect
    (-0.5, -0.1, 0.0, "less", HOLDS),
    (-0.5, 0.1, 0.0, "less", INCONCLUSIVE),
    (0.1, 0.5, 0.0, "less", FAILS),
    (math.nan, math.nan, 0.0, "greater", INCONCLUSIVE),
])
def test_verdict(lo, hi, threshold, direction, expected):
    assert stats.verdict(lo, hi, threshold, direction) == expected


# ----------------------------------------------------------------------------- fake results
class FakeRun:
    def __init__(self, fields: dict):
        self.fields = fields
        self.config = SimpleNamespace(seed=fields["seed"])

    def field(self, path):
        return self.fields[path]


def fake_spec(axes: dict, claims=()):
    """Every combination of `axes` ("seed" last), like an expanded spec."""
    runs = [FakeRun(dict(zip(axes, combo))) for combo in itertools.product(*axes.values())]
    return SimpleNamespace(axes=axes, runs=runs, header=SimpleNamespace(claims=list(claims)))


def claim(check, **kw):
    return Claim.model_validate({"name": "c", "text": "a claim", "check": check, **kw})


def judge(spec, check, values, curves=None, **kw):
    """Evaluate with metrics given by `values(fields) -> {name: value}` and curves by
    `curves(fields) -> ys` (epochs 0, 1, ...)."""
    metrics = lambda plan, run: values(run.fields)                                       # noqa: E731
    series = lambda plan, run, name: (list(range(len(curves(run.fields)))), curves(run.fields))  # noqa: E731
    return evaluate_claim(None, spec, claim(check, **kw), metrics=metrics, series=series)


COMPARE = {"kind": "compare", "left": "reward_ode", "op": ">", "right": "reward_ode_pretrained"}
NOISE = {0: -1.0, 1: 0.0, 2: 1.0}                   # per seed, mean 0


def compare_values(diff, noise=0.0):
    return lambda f: {"reward_ode": 5.0 + diff + noise * NOISE[f["seed"]], "reward_ode_pretrained": 5.0}


def test_compare_clear_holds_clear_fails_and_inconclusive():
    spec = fake_spec({"sampler.steps": [10, 20], "seed": [0, 1, 2]})
    up = judge(spec, COMPARE, compare_values(1.0, noise=0.1))
    assert up["verdict"] == HOLDS and up["effect"] == pytest.approx(1.0) and up["n"] == 3
    assert up["lo"] < 1.0 < up["hi"] and [c["verdict"] for c in up["cells"]] == [HOLDS, HOLDS]
    assert up["cells"][0]["cell"] == {"sampler.steps": 10} and up["reference"] == "reward_ode_pretrained"
    down = judge(spec, COMPARE, compare_values(-1.0, noise=0.1))
    assert down["verdict"] == FAILS and down["effect"] == pytest.approx(-1.0)
    straddle = judge(spec, COMPARE, compare_values(0.2, noise=1.0))
    assert straddle["lo"] < 0 < straddle["hi"] and straddle["verdict"] == INCONCLUSIVE


def test_noise_turns_holds_into_inconclusive_with_the_same_means():
    spec = fake_spec({"sampler.steps": [10, 20], "seed": [0, 1, 2]})
    quiet, noisy = (judge(spec, COMPARE, compare_values(0.5, noise=s)) for s in (0.05, 2.0))
    assert quiet["effect"] == pytest.approx(noisy["effect"]) == pytest.approx(0.5)
    assert (quiet["verdict"], noisy["verdict"]) == (HOLDS, INCONCLUSIVE)


def test_zero_difference_does_not_hold():
    spec = fake_spec({"sampler.steps": [10, 20], "seed": [0, 1, 2]})
    exact = judge(spec, COMPARE, compare_values(0.0))
    assert (exact["effect"], exact["lo"], exact["hi"], exact["verdict"]) == (0.0, 0.0, 0.0, FAILS)
    tiny = judge(spec, COMPARE, compare_values(1e-4, noise=1e-5), min_effect=0.01)
    assert tiny["threshold"] == 0.01 and tiny["verdict"] == FAILS


def test_one_seed_is_inconclusive():
    v = judge(fake_spec({"sampler.steps": [10, 20], "seed": [0]}), COMPARE, compare_values(3.0))
    assert v["verdict"] == INCONCLUSIVE and v["n"] == 1 and "one seed" in v["evidence"]


def test_cells_combine_by_min_fraction():
    spec = fake_spec({"sampler.steps": [10, 20, 50, 100], "seed": [0, 1, 2]})
    sign = {10: 1.0, 20: 1.0, 50: 1.0, 100: -1.0}            # 3 of 4 cells hold, 1 does not
    values = lambda f: compare_values(sign[f["sampler.steps"]], noise=0.1)(f)  # noqa: E731
    assert judge(spec, COMPARE, values, min_fraction=0.75)["verdict"] == HOLDS
    assert judge(spec, COMPARE, values, min_fraction=1.0)["verdict"] == FAILS
    v = judge(spec, COMPARE, values, where={"sampler.steps": 100})
    assert v["verdict"] == FAILS and len(v["cells"]) == 1


def test_curve_narrows_is_measured_against_epoch_0():
    spec = fake_spec({"sampler.stochasticity": [1, 3], "seed": [0, 1, 2]})
    dip_then_up = lambda f: [-1.0, -3.0, -0.5, 1.2 + 0.01 * f["seed"]]     # noqa: E731  ends above its start
    narrows = judge(spec, {"kind": "curve_narrows", "metric": "gap"}, None, dip_then_up)
    assert narrows["verdict"] == FAILS and narrows["effect"] == pytest.approx(0.21)
    assert "epoch 0" in narrows["how"] and narrows["direction"] == "less"
    below_peak = judge(spec, {"kind": "curve_below_peak", "metric": "gap", "ratio": 0.75}, None, dip_then_up)
    assert below_peak["verdict"] == HOLDS
    # the specs' form: ratio 0.75 claims the final |gap| is below 3/4 of the pretrained one
    halves = lambda f: [2.0, 1.5, 1.0 + 0.01 * f["seed"]]                  # noqa: E731
    v = judge(spec, {"kind": "curve_narrows", "metric": "gap", "ratio": 0.75}, None, halves)
    assert v["verdict"] == HOLDS and v["effect"] == pytest.approx(1.01 - 1.5)


def ranked(y_ranks):
    return dict(zip([1, 2, 3, 4, 5], y_ranks))      # stochasticity -> metric


def test_trend_uses_every_group_and_per_seed_correlations():
    mixed = {0: ranked([4, 5, 2, 3, 1]), 1: ranked([4, 1, 2, 5, 3]), 2: ranked([4, 1, 2, 5, 3])}
    rhos = [sps.spearmanr([1, 2, 3, 4, 5], list(mixed[s].values())).statistic for s in range(3)]
    assert rhos == pytest.approx([-0.8, 0.2, 0.2])
    spec = fake_spec({"sampler.steps": [10, 20], "sampler.stochasticity": [1, 2, 3, 4, 5], "seed": [0, 1, 2]})
    check = {"kind": "trend", "metric": "improvement", "axis": "sampler.stochasticity", "direction": "increasing"}

    def values(f):
        x = f["sampler.stochasticity"]
        return {"improvement": x if f["sampler.steps"] == 10 else mixed[f["seed"]][x]}
    v = judge(spec, check, values)
    assert [c["cell"] for c in v["cells"]] == [{"sampler.steps": 10}, {"sampler.steps": 20}]
    assert [c["verdict"] for c in v["cells"]] == [HOLDS, INCONCLUSIVE]
    assert v["cells"][1]["per_seed"] == pytest.approx({0: -0.8, 1: 0.2, 2: 0.2})
    assert v["verdict"] == INCONCLUSIVE and v["unit"] == "rank correlation"
    assert "per-seed ρ with the claimed sign: 5/6" in v["evidence"] and "-0.80" in v["evidence"]
    only_mixed = judge(spec, check, values, where={"sampler.steps": 20})
    assert only_mixed["verdict"] != HOLDS and only_mixed["effect"] == pytest.approx(-0.4 / 3)
    decreasing = judge(spec, {**check, "direction": "decreasing"}, values, where={"sampler.steps": 10})
    assert decreasing["verdict"] == FAILS


def test_trend_without_two_axis_values_is_inconclusive():
    spec = fake_spec({"sampler.stochasticity": [1, 3], "seed": [0, 1]})
    check = {"kind": "trend", "metric": "improvement", "axis": "sampler.stochasticity", "direction": "increasing"}
    v = judge(spec, check, lambda f: {"improvement": 1.0}, where={"sampler.stochasticity": 3})
    assert v["verdict"] == INCONCLUSIVE and v["cells"] == [] and "no groups" in v["evidence"]


def test_render_claims_table():
    c = claim(COMPARE, min_effect=0.1).model_copy(update={"text": "a | b\nc"})
    spec = fake_spec({"sampler.steps": [10], "seed": [0, 1, 2]}, [c])
    metrics = lambda plan, run: compare_values(1.0, noise=0.1)(run.fields)  # noqa: E731
    lines = render_claims(None, spec, lambda p, s, cl: evaluate_claim(p, s, cl, metrics=metrics))
    assert lines[0] == "| claim (the paper's statement) | setting | check | effect [interval] | n | verdict |"
    assert lines[2].startswith(r"| a \| b c | every run | reward_ode − reward_ode_pretrained per run, paired (claimed &gt; 0.1) "
                               "| +1 [+0.752, +1.25] |")
    assert "| 3 | **holds** (1/1 cells hold" in lines[2]
    assert "95% t interval over seeds" in lines[-1] and "min_fraction" in lines[-1]


# ----------------------------------------------------------------------------- models on specs
def test_references():
    cases = {("left",): "reward_ode", ("right",): "reward_ode_pretrained"}
    assert references(claim(COMPARE).check) == [(p, n, "metric") for p, n in cases.items()]
    trend = claim({"kind": "trend", "metric": "improvement", "axis": "sampler.stochasticity",
                   "direction": "increasing"})
    assert references(trend.check) == [(("metric",), "improvement", "metric"),
                                       (("axis",), "sampler.stochasticity", "axis")]
    for kind in ("curve_narrows", "curve_below_peak"):
        assert references(claim({"kind": kind, "metric": "gap"}).check) == [(("metric",), "gap", "series")]


def test_repo_spec_claims_still_validate():
    specs = [load_spec(p) for p in sorted((ROOT / "specs").glob("*.yaml"))]
    kinds = {c.check.kind for s in specs for c in s.header.claims}
    assert kinds == {"curve_narrows", "trend", "compare", "optimum", "contrast", "reaches"}
    narrows = next(c for s in specs for c in s.header.claims if c.check.kind == "curve_narrows")
    assert narrows.check.ratio == 0.75 and narrows.min_effect == 0.0


SPEC = """
name: s
data: {kind: gaussian, dim: 2, mean: 0.0, std: 1.0}
model:
  kind: gaussian_score
  process: {kind: vp, beta_min: 0.1, beta_max: 20.0}
sampler: {kind: gddim, steps: [10, 20], stochasticity: [1, 2, 3]}
algorithm: {kind: ddpo, epochs: 5, batch_size: 32, lr: 0.01}
reward: {kind: quadratic, center: 2.0}
evaluation: {samples: 1000}
seeds: [0, 1, 2]
scales: {default: {}}
claims:
  - name: narrows
    text: "The gap narrows"
    check: {kind: curve_below_peak, metric: gap, ratio: 0.75}
    min_effect: 0.01
  - name: trend
    text: "Stochasticity helps"
    check: {kind: trend, metric: improvement, axis: sampler.stochasticity, direction: increasing}
    where: {sampler.steps: 20}
    min_effect: 0.5
"""


def test_on_an_expanded_spec(tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC)
    spec = expand(load_spec(tmp_path / "s.yaml"), "default")
    values = lambda plan, run: {"improvement": run.field("sampler.stochasticity") + 0.1 * run.config.seed}  # noqa: E731
    trend = evaluate_claim(None, spec, spec.header.claims[1], metrics=values)
    assert (trend["verdict"], trend["effect"], trend["n"]) == (HOLDS, 1.0, 3)
    assert trend["cells"][0]["cell"] == {"sampler.steps": 20}
    curve = lambda plan, run, name: ([0, 5], [0.5, 0.1 + 0.01 * run.config.seed])  # noqa: E731
    narrows = evaluate_claim(None, spec, spec.header.claims[0], series=curve)
    assert narrows["verdict"] == HOLDS and len(narrows["cells"]) == 6


# ----------------------------------------------------------------------------- optimum, compare scale
OPTIMUM = {"kind": "optimum", "metric": "swd", "axis": "model.latent_dim", "direction": "minimum"}


def test_optimum_is_the_margin_of_the_best_interior_value_over_the_best_end():
    spec = fake_spec({"model.latent_dim": [16, 32, 64, 256], "seed": [0, 1, 2]})
    valley = {16: 3.0, 32: 1.0, 64: 1.5, 256: 2.0}           # best end 2.0, best interior 1.0
    v = judge(spec, OPTIMUM, lambda f: {"swd": valley[f["model.latent_dim"]] + 0.01 * f["seed"]})
    assert v["verdict"] == HOLDS and v["effect"] == pytest.approx(1.0) and v["direction"] == "greater"
    assert "best mean swd at model.latent_dim = 32" in v["evidence"]
    slope = {16: 3.0, 32: 2.5, 64: 2.2, 256: 2.0}            # monotone: the optimum is the end m = d
    v = judge(spec, OPTIMUM, lambda f: {"swd": slope[f["model.latent_dim"]] + 0.01 * f["seed"]})
    assert v["verdict"] == FAILS and v["effect"] == pytest.approx(-0.2)
    hill = {16: 1.0, 32: 3.0, 64: 2.0, 256: 0.5}             # "maximum" reads the same data the other way
    v = judge(spec, {**OPTIMUM, "direction": "maximum"}, lambda f: {"swd": hill[f["model.latent_dim"]]})
    assert v["effect"] == pytest.approx(2.0) and v["verdict"] == HOLDS


def test_optimum_needs_three_axis_values():
    spec = fake_spec({"model.latent_dim": [16, 256], "seed": [0, 1]})
    v = judge(spec, OPTIMUM, lambda f: {"swd": 1.0})
    assert v["verdict"] == INCONCLUSIVE and v["cells"] == [] and "no groups to judge with enough values of model.latent_dim" in v["evidence"]


def test_compare_scale_states_a_ratio():
    spec = fake_spec({"model.latent_dim": [64], "seed": [0, 1, 2]})
    check = {"kind": "compare", "left": "swd", "op": "<", "right": "swd_full", "scale": 1.25}
    within = judge(spec, check, lambda f: {"swd": 1.2 + 0.01 * f["seed"], "swd_full": 1.0})
    assert within["verdict"] == HOLDS and within["effect"] == pytest.approx(1.21 - 1.25)
    assert within["reference"] == "1.25 × swd_full"
    beyond = judge(spec, check, lambda f: {"swd": 1.4 + 0.01 * f["seed"], "swd_full": 1.0})
    assert beyond["verdict"] == FAILS


# ----------------------------------------------------------------------------- contrast
CONTRAST = {"kind": "contrast", "metric": "lc", "axis": "algorithm.variant", "value": "rainbow", "op": ">"}
VARIANTS = {"dpo": 0.50, "ipo": 0.52, "rainbow": 0.60}


def test_contrast_is_paired_by_seed_with_a_cell_per_other_value():
    spec = fake_spec({"algorithm.variant": list(VARIANTS), "seed": [0, 1, 2]})
    shift = {0: -0.2, 1: 0.0, 2: 0.2}                 # a seed effect every variant shares: pairing removes it
    v = judge(spec, CONTRAST, lambda f: {"lc": VARIANTS[f["algorithm.variant"]] + shift[f["seed"]]})
    assert [c["cell"] for c in v["cells"]] == [{"algorithm.variant vs": "dpo"}, {"algorithm.variant vs": "ipo"}]
    assert [c["effect"] for c in v["cells"]] == pytest.approx([0.10, 0.08])
    assert all(c["lo"] == pytest.approx(c["hi"]) for c in v["cells"])     # paired: no spread left
    assert v["verdict"] == HOLDS and v["effect"] == pytest.approx(0.09)
    assert "per-seed effects with the claimed sign: 6/6" in v["evidence"]
    unpaired_noise = {0: 0.1, 1: -0.1, 2: 0.0}
    noisy = judge(spec, CONTRAST, lambda f: {"lc": VARIANTS[f["algorithm.variant"]]
                                             + (unpaired_noise[f["seed"]] if f["algorithm.variant"] == "rainbow" else 0)})
    assert noisy["verdict"] == INCONCLUSIVE and noisy["effect"] == pytest.approx(0.09)


def test_contrast_against_a_list_and_the_other_direction():
    spec = fake_spec({"algorithm.variant": list(VARIANTS), "seed": [0, 1, 2]})
    values = lambda f: {"lc": VARIANTS[f["algorithm.variant"]] + 0.001 * f["seed"] * (f["algorithm.variant"] == "dpo")}  # noqa: E731
    only_ipo = judge(spec, {**CONTRAST, "against": ["ipo"]}, values)
    assert [c["cell"] for c in only_ipo["cells"]] == [{"algorithm.variant vs": "ipo"}]
    worse = judge(spec, {**CONTRAST, "value": "dpo", "against": ["ipo", "rainbow"]}, values, min_fraction=1.0)
    assert worse["verdict"] == FAILS and worse["effect"] < 0
    assert judge(spec, {**CONTRAST, "value": "dpo", "op": "<"}, values)["verdict"] == HOLDS
    mixed = judge(spec, {**CONTRAST, "value": "ipo"}, values, min_fraction=1.0)   # beats dpo, loses to rainbow
    assert [c["verdict"] for c in mixed["cells"]] == [HOLDS, FAILS] and mixed["verdict"] == FAILS


def test_contrast_values_must_be_run(tmp_path):
    spec_text = (ROOT / "specs" / "rainbowpo.yaml").read_text().replace("value: rainbow", "value: rainbowpo")
    (tmp_path / "rainbowpo.yaml").write_text(spec_text)
    with pytest.raises(SpecError) as e:
        load_and_expand(tmp_path / "rainbowpo.yaml", "smoke")
    assert "claims.0.check.value: 'rainbowpo' is not a value of 'algorithm.variant'" in str(e.value)


def test_a_contrast_against_its_own_value_is_refused(tmp_path):
    text = (ROOT / "specs" / "rainbowpo.yaml").read_text()
    old = "value: dpo+ref_mix, op: \">\", against: [dpo]"
    assert old in text
    (tmp_path / "rainbowpo.yaml").write_text(text.replace(old, "value: dpo+ref_mix, op: \">\", against: [dpo, dpo+ref_mix]"))
    with pytest.raises(SpecError) as e:
        load_and_expand(tmp_path / "rainbowpo.yaml", "smoke")
    assert "claims.3.check.against.1: 'dpo+ref_mix' is the contrast's own value" in str(e.value)


# ----------------------------------------------------------------------------- reaches (time to a reward)
REACHES = {"kind": "reaches", "metric": "reward", "cost": "seconds_per_epoch", "axis": "algorithm.variant",
           "value": "mixgrpo", "against": ["full_sde"]}


def test_reaches_is_the_interpolated_cost_to_the_other_runs_final_value_over_its_whole_cost():
    """full_sde ends at 1.0 after 4 epochs of 2 s (8 s); mixgrpo's curve crosses 1.0 halfway between
    epochs 2 and 3 at 1 s an epoch: 2.5 s, effect 2.5 / 8 - 1, the same for every seed."""
    spec = fake_spec({"algorithm.variant": ["full_sde", "mixgrpo"], "seed": [0, 1, 2]})
    curves = {"full_sde": [0.0, 0.25, 0.5, 0.75, 1.0], "mixgrpo": [0.0, 0.6, 0.8, 1.2, 1.3]}
    cost = {"full_sde": 2.0, "mixgrpo": 1.0}
    v = judge(spec, REACHES, lambda f: {"seconds_per_epoch": cost[f["algorithm.variant"]]},
              curves=lambda f: curves[f["algorithm.variant"]])
    assert [c["cell"] for c in v["cells"]] == [{"algorithm.variant vs": "full_sde"}]
    assert v["effect"] == pytest.approx(2.5 / 8 - 1) and v["verdict"] == HOLDS
    slow = judge(spec, REACHES, lambda f: {"seconds_per_epoch": 4.0 if f["algorithm.variant"] == "mixgrpo" else 2.0},
                 curves=lambda f: curves[f["algorithm.variant"]])
    assert slow["effect"] == pytest.approx(10 / 8 - 1) and slow["verdict"] == FAILS


def test_reaches_never_reached_is_infinite_and_does_not_hold():
    spec = fake_spec({"algorithm.variant": ["full_sde", "mixgrpo"], "seed": [0, 1]})
    curves = {"full_sde": [0.0, 1.0], "mixgrpo": [0.0, 0.5]}
    v = judge(spec, REACHES, lambda f: {"seconds_per_epoch": 1.0}, curves=lambda f: curves[f["algorithm.variant"]])
    assert math.isinf(v["cells"][0]["effect"]) and v["verdict"] == FAILS
    assert "never reach the target: 2/2" in v["evidence"]
    once = {("mixgrpo", 0): [0.0, 0.5], ("mixgrpo", 1): [0.0, 2.0]}
    mixed = judge(spec, REACHES, lambda f: {"seconds_per_epoch": 1.0},
                  curves=lambda f: once.get((f["algorithm.variant"], f["seed"]), curves["full_sde"]))
    assert mixed["verdict"] == INCONCLUSIVE            # one seed reached in half the time, one never
    three = fake_spec({"algorithm.variant": ["full_sde", "mixgrpo"], "seed": [0, 1, 2]})
    most = judge(three, REACHES, lambda f: {"seconds_per_epoch": 1.0},
                 curves=lambda f: once.get((f["algorithm.variant"], f["seed"]), curves[f["algorithm.variant"]]))
    assert most["verdict"] == FAILS                    # two of three seeds never reach
