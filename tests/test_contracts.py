"""Contract tests every registered kind of a room passes, the way diffusers tests all its
schedulers in common: a new sampler or model family is checked by adding its file alone."""
import pytest
import torch

from engine import registry
from engine.models.process_spec import VPProcess
from engine.models.processes import grid
from engine.samplers import step_stds
from engine.spec.models import RunConfig

SAMPLERS = [k for k in registry.kinds("sampler")]


@pytest.mark.parametrize("kind", SAMPLERS, ids=lambda k: k.name)
def test_a_sampler_at_zero_stochasticity_draws_no_noise(kind):
    a, s = grid(VPProcess(kind="vp"), 12)
    cfg = kind.spec(kind=kind.name, steps=12, **{kind.traits["noise_field"]: 0.0})
    stds = step_stds(cfg, a, s)
    assert stds.shape == (12,) and torch.count_nonzero(stds) == 0


@pytest.mark.parametrize("kind", SAMPLERS, ids=lambda k: k.name)
def test_a_stochastic_sampler_draws_noise_on_all_but_the_last_step(kind):
    a, s = grid(VPProcess(kind="vp"), 12)
    stds = step_stds(kind.spec(kind=kind.name, steps=12, **{kind.traits["noise_field"]: 1.0}), a, s)
    assert (stds[1:] > 0).all()


GAUSSIAN_RUN = {"data": {"kind": "gaussian", "dim": 2}, "model": {"kind": "gaussian_score", "process": {"kind": "vp"},
                                                                  "init_scale": 0.1},
                "sampler": {"kind": "gddim", "steps": 6, "stochasticity": 1.0},
                "algorithm": {"kind": "ddpo", "epochs": 1, "batch_size": 8}, "reward": {"kind": "quadratic"}}


def test_model_family_contract_save_and_load_round_trip_bitwise(tmp_path):
    """policy -> save_trained -> finetuned gives the same parameters, bit for bit."""
    cfg = RunConfig.model_validate(GAUSSIAN_RUN)
    family = registry.implementation(registry.kind("model", cfg.model.kind))
    p = family.policy(cfg, {}, torch.Generator().manual_seed(3))
    family.save_trained(p, tmp_path)
    q = family.finetuned(cfg, {}, tmp_path, torch.Generator().manual_seed(4))
    assert all(torch.equal(a, b) for a, b in zip(p.state_dict().values(), q.state_dict().values()))
    r = family.pretrained(cfg, {}, torch.Generator().manual_seed(3))
    assert not all(torch.equal(a, b) for a, b in zip(p.state_dict().values(), r.state_dict().values()))
