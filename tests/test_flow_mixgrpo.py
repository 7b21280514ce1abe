"""MixGRPO on any sampler: its window schedules, the full-SDE and Flash variants (the plan of the
deterministic steps), its timing outputs, and the rules that keep the flow family and gDDIM apart."""
import pytest
import torch

from engine.algorithms.mixgrpo import mixed_stds, ode_plan, train_metrics, window_steps
from engine.algorithms.mixgrpo_kind import MixGRPOAlgorithm
from engine.errors import SpecError, SpecErrors
from engine.spec.resolve import load_and_expand

T = 10


def alg(**kw):
    return MixGRPOAlgorithm(kind="mixgrpo", window_size=4, window_stride=2, iters_per_window=3, **kw)


def test_the_progressive_window_slides_toward_the_data_and_wraps():
    starts = [int(window_steps(e, alg(), T).max()) for e in range(1, 14)]
    assert starts == [9, 9, 9, 7, 7, 7, 5, 5, 5, 3, 3, 3, 9]
    assert window_steps(1, alg(), T).tolist() == [9, 8, 7, 6]


def test_the_random_window_is_drawn_from_the_seed_and_epoch_and_stays_on_the_grid():
    cfg = alg(schedule="random")
    draws = {s: [tuple(window_steps(e, cfg, T, seed=s).tolist()) for e in range(1, 41)] for s in (0, 1)}
    assert draws[0] == [tuple(window_steps(e, cfg, T, seed=0).tolist()) for e in range(1, 41)]   # reproducible
    assert draws[0] != draws[1] and len(set(draws[0])) == 4                                    # every place, varied
    assert all(max(w) - min(w) == 3 and min(w) >= 0 for w in draws[0])


def test_a_fixed_full_sde_window_cannot_start_late(tmp_path):
    f = tmp_path / "flow_rules.yaml"
    f.write_text(FLOW % ("flow_sde", ", variant: full_sde, schedule: fixed, window_start: 3"))
    with pytest.raises((SpecError, SpecErrors)) as e:
        load_and_expand(f, "smoke")
    assert "algorithm.window_start: a window of 10 from step 3 runs past the 10 steps" in str(e.value)


def test_a_fixed_window_stays_and_full_sde_covers_every_step():
    assert {tuple(window_steps(e, alg(schedule="fixed", window_start=3), T).tolist()) for e in range(1, 9)} \
        == {(6, 5, 4, 3)}
    assert window_steps(5, alg(variant="full_sde"), T).tolist() == list(range(T - 1, -1, -1))


def test_the_plan_of_the_deterministic_steps():
    stds = torch.full((T,), 0.3)
    w = window_steps(1, alg(), T)
    assert ode_plan(mixed_stds(stds, w), w, alg()) is None                # MixGRPO: Euler everywhere
    flash = ode_plan(mixed_stds(stds, w), w, alg(variant="flash"))
    assert flash.solver == "dpmsolver2m" and flash.active.tolist() == [True] * 6 + [False] * 4
    assert flash.lands.nonzero().flatten().tolist() == [0]                  # int(7 * 0.4) - 1 = 1 step to t = 0
    later = window_steps(4, alg(variant="flash"), T)                        # window 7..4: Euler before, 4 after
    plan = ode_plan(mixed_stds(stds, later), later, alg(variant="flash", ode_compress=1.0, ode_solver="heun"))
    assert plan.solver == "heun" and plan.active.tolist() == [True] * 4 + [False] * 6 and torch.equal(plan.lands, plan.active)
    full = window_steps(1, alg(variant="full_sde"), T)
    assert not ode_plan(mixed_stds(stds, full), full, alg(variant="flash")).active.any()


def test_timings_are_the_median_without_the_warm_up_epoch_and_the_sum():
    assert train_metrics({"epoch_seconds": [9.0, 1.0, 3.0, 2.0]}) == {"seconds_per_epoch": 2.0, "train_seconds": 15.0}
    resumed = {"epoch_seconds": [9.0, 1.0, 8.0, 3.0, 2.0], "warm_up": [0, 2]}      # a resume after epoch 2
    assert train_metrics(resumed) == {"seconds_per_epoch": 2.0, "train_seconds": 23.0}
    assert train_metrics({}) == {}


FLOW = """name: flow_rules
data: {kind: digits, size: 8}
model: {kind: flow_unet}
reward: {kind: classifier}
sampler: {kind: %s, steps: 10, stochasticity: 1}
algorithm: {kind: mixgrpo%s}
seeds: [0]
scales: {smoke: {}}
"""


@pytest.mark.parametrize("sampler,extra,where,message", [
    ("gddim", "", "sampler.kind", "model 'flow_unet' is a rectified flow, sampled by flow_sde, not 'gddim'"),
    ("flow_sde", ", window_size: 11", "algorithm.window_size", "window_size 11 is more than sampler.steps 10"),
])
def test_the_flow_family_refuses_what_does_not_fit(tmp_path, sampler, extra, where, message):
    f = tmp_path / "flow_rules.yaml"
    f.write_text(FLOW % (sampler, extra))
    with pytest.raises((SpecError, SpecErrors)) as e:
        load_and_expand(f, "smoke")
    assert f"{where}: {message}" in str(e.value)


def test_the_digits_family_refuses_the_flow_sde_and_flash(tmp_path):
    f = tmp_path / "flow_rules.yaml"
    f.write_text((FLOW % ("flow_sde", ", variant: flash")).replace("flow_unet", "unet"))
    with pytest.raises((SpecError, SpecErrors)) as e:
        load_and_expand(f, "smoke")
    assert "sampler.kind: flow_sde steps a velocity (rectified-flow) model" in str(e.value)
    f.write_text((FLOW % ("gddim", ", variant: flash")).replace("flow_unet", "unet"))
    with pytest.raises((SpecError, SpecErrors)) as e:
        load_and_expand(f, "smoke")
    assert "algorithm.variant: MixGRPO-Flash's solver needs a family with its own transition" in str(e.value)
