"""Contract tests every registered kind of a room passes, the way diffusers tests all its
schedulers in common: a new sampler or model family is checked by adding its file alone."""
import pytest
import torch

from engine import registry
from engine.models.process_spec import VPProcess
from engine.models.processes import grid
from engine.samplers import step_stds
from engine.spec.models import RunConfig
from engine.stages.common import sampler_stds

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


# ----------------------------------------------------------------------------- policies and trainers
def gaussian_policy():
    cfg = RunConfig.model_validate(GAUSSIAN_RUN)
    p = registry.implementation(registry.kind("model", "gaussian_score")).policy(cfg, {}, torch.Generator().manual_seed(3))
    return p, sampler_stds(cfg, p)[0], lambda x, prompts=None: -((x - 1.0) ** 2).sum(-1)


def unet_policy():
    from engine.models.unet import UNetPolicy, build_unet
    from engine.models.unet_kind import Pretrain, UNetModel
    torch.manual_seed(0)
    p = UNetPolicy(build_unet(UNetModel(kind="unet", channels=[8, 16], norm_groups=4), 8), Pretrain(), steps=6, size=8)
    cfg = RunConfig.model_validate({**GAUSSIAN_RUN, "sampler": {"kind": "gddim", "steps": 6, "stochasticity": 1.0}})
    return p, sampler_stds(cfg, p)[0], lambda x, prompts=None: x.float().flatten(1).mean(1)


def flow_unet_policy():
    from engine.models.flow_unet import FlowUNetPolicy
    from engine.models.unet import build_unet
    from engine.models.unet_kind import UNetModel
    torch.manual_seed(0)
    p = FlowUNetPolicy(build_unet(UNetModel(kind="unet", channels=[8, 16], norm_groups=4), 8), steps=6, shift=1.0, size=8)
    cfg = RunConfig.model_validate({**GAUSSIAN_RUN, "sampler": {"kind": "flow_sde", "steps": 6, "stochasticity": 1.0}})
    return p, step_stds(cfg.sampler, p.a, p.s), lambda x, prompts=None: x.float().flatten(1).mean(1)


POLICIES = {"gaussian_score": gaussian_policy, "unet": unet_policy, "flow_unet": flow_unet_policy}


def prediction(policy):
    """The network output a family's steps use: the velocity of a rectified flow, else eps."""
    return getattr(policy, "velocity", None) or policy.eps


@pytest.mark.parametrize("family", list(POLICIES))
def test_the_first_ppo_ratio_is_exactly_one(family):
    """Before any update the training path's log-probabilities equal the sampling-time ones, bitwise."""
    from engine.algorithms.policy_gradient import chain_log_probs, collect
    policy, stds, reward = POLICIES[family]()
    batch = collect(policy, stds, 6, torch.Generator().manual_seed(0), reward)
    steps = torch.nonzero(stds > 0).flatten()
    with torch.no_grad():
        logp = chain_log_probs(policy, batch.xs, steps, stds, batch.prompts)
    assert torch.equal(torch.exp(logp - batch.logps[steps]), torch.ones_like(logp))


@pytest.mark.parametrize("family", list(POLICIES))
def test_an_integer_step_and_a_tensor_of_steps_agree(family):
    policy, stds, _ = POLICIES[family]()
    gen = torch.Generator().manual_seed(1)
    x = policy.prior(4, gen)
    prompts = policy.sample_prompts(4, gen) if hasattr(policy, "sample_prompts") else None
    with torch.no_grad():
        one = torch.stack([prediction(policy)(x, k, prompts) for k in (1, 3)])
        many = prediction(policy)(torch.stack([x, x]), torch.tensor([1, 3]), prompts)
    torch.testing.assert_close(many, one, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("family", list(POLICIES))
def test_sampling_is_deterministic_given_the_seed(family):
    from engine.algorithms.policy_gradient import collect
    runs = []
    for _ in range(2):
        policy, stds, reward = POLICIES[family]()
        runs.append(collect(policy, stds, 5, torch.Generator().manual_seed(7), reward))
    assert torch.equal(runs[0].xs, runs[1].xs) and torch.equal(runs[0].logps, runs[1].logps)


MIXGRPO = {"kind": "mixgrpo", "epochs": 4, "prompts_per_epoch": 2, "group_size": 4, "lr": 1e-3, "window_size": 2,
           "iters_per_window": 1}
TRAINERS = {"ddpo": ("gaussian_score", {"kind": "ddpo", "epochs": 4, "batch_size": 8, "lr": 1e-2}),
            "mixgrpo": ("unet", MIXGRPO),
            "mixgrpo-flash-random": ("flow_unet", {**MIXGRPO, "schedule": "random", "ode_solver": "dpmsolver2m",
                                                          "ode_compress": 0.4}),
            # the value net and its Adam state ride in the checkpoint with the policy's
            "ctrl_ppo": ("gaussian_score", {"kind": "ctrl_ppo", "epochs": 4, "batch_size": 8, "lr": 1e-2,
                                            "kl_coef": 0.5, "value_updates": 3, "value_batch": 16, "gae_lambda": 0.5}),
            "ctrl_ppo-plain": ("unet", {"kind": "ctrl_ppo", "epochs": 4, "batch_size": 8, "lr": 1e-3, "critic": "plain",
                                        "value_updates": 2, "value_batch": 8})}


@pytest.mark.parametrize("trainer", list(TRAINERS))
def test_every_trainer_resumes_bitwise_from_a_checkpoint(trainer, tmp_path):
    """Train 4 epochs straight, and 2 epochs, checkpoint, a fresh process's objects restored,
    2 more: the parameters agree bitwise (engine/checkpoint.py; the finetune stage's resume)."""
    from engine import checkpoint
    from engine.algorithms.policy_gradient import make_optimizer
    family, spec = TRAINERS[trainer]
    algorithm = spec["kind"]
    kind = registry.kind("algorithm", algorithm)
    train = registry.implementation(kind).train
    make = getattr(registry.implementation(kind), "make_optimizer", make_optimizer)    # the finetune stage's choice
    cfg = kind.spec.model_validate(spec)

    def run(stop=None, resume=None):
        torch.manual_seed(0)                # as the finetune stage seeds each process (the value net's init)
        policy, stds, reward = POLICIES[family]()
        gen, opt, state = torch.Generator().manual_seed(5), None, {}
        opt = make(policy, cfg)
        start = 0
        if resume:
            start, extra = checkpoint.load(resume, stage="finetune", h="0" * 16, policy=policy, optimizer=opt,
                                           generator=gen)
            state.update(extra.get("algorithm", {}))
        part = cfg.model_copy(update={"epochs": stop}) if stop else cfg
        train(policy, stds, reward, part, gen, start_epoch=start, optimizer=opt, state=state)
        if stop:
            checkpoint.save(tmp_path / "ckpt.safetensors", stage="finetune", h="0" * 16, epoch=stop, policy=policy,
                            optimizer=opt, generator=gen, extra={"algorithm": state})
        return policy

    straight = run()
    run(stop=2)
    resumed = run(resume=tmp_path / "ckpt.safetensors")
    assert straight.state_dict().keys() == resumed.state_dict().keys()
    if algorithm == "ctrl_ppo":
        assert any(k.startswith("critic.") for k in straight.state_dict())
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
