"""ctrl-PPO (engine/algorithms/ctrl_ppo.py): the first ratio is exactly 1 with the critic attached, GAE
and the returns against sums written out here, `critic: none` is DDPO bitwise, the sign check on the
Gaussian family, and the critic's regression target is the exact conditional expected reward on average."""
import math

import pytest
import torch

from engine.algorithms import ctrl_ppo, ddpo
from engine.algorithms.ctrl_ppo_kind import CtrlPPOAlgorithm
from engine.algorithms.ddpo_kind import DDPOAlgorithm
from engine.algorithms.policy_gradient import chain_log_probs, collect
from engine.evaluation import expected_reward
from engine.models import gaussian
from engine.rewards.quadratic import QuadraticReward
from engine.spec.models import RunConfig
from engine.stages.common import sampler_stds

RUN = {"data": {"kind": "gaussian", "dim": 2, "mean": 0.0, "std": 1.0},
       "model": {"kind": "gaussian_score", "process": {"kind": "vp"}, "correction": "continuous"},
       "sampler": {"kind": "gddim", "steps": 10, "stochasticity": 1.0},
       "algorithm": {"kind": "ctrl_ppo", "epochs": 8, "batch_size": 64, "lr": 1e-2},
       "reward": {"kind": "quadratic", "center": 2.0}}


def setting(**alg):
    cfg = RunConfig.model_validate({**RUN, "algorithm": {**RUN["algorithm"], **alg}})
    torch.manual_seed(0)
    policy = gaussian.policy(cfg, {}, torch.Generator().manual_seed(1))
    train, ode = sampler_stds(cfg, policy)
    return cfg, policy, train, ode, QuadraticReward(2.0)


def test_gae_and_returns_against_sums_written_out():
    g = torch.Generator().manual_seed(0)
    T, n, beta, lam = 5, 3, 0.7, 0.6
    kls = torch.rand(T, n, generator=g, dtype=torch.float64)
    r = torch.randn(n, generator=g, dtype=torch.float64)
    G = ctrl_ppo.returns_to_go(r, kls, beta)
    for j in range(T + 1):
        torch.testing.assert_close(G[j], r - beta * sum((kls[k] for k in range(j)), torch.zeros(n, dtype=torch.float64)))
    V = torch.randn(T + 1, n, generator=g, dtype=torch.float64)
    V[0] = r
    A = ctrl_ppo.gae(V, kls, beta, lam)
    for k in range(T):                      # the steps after step k are k-1, ..., 0
        expected = sum(lam ** (k - j) * (V[j] - V[j + 1] - beta * kls[j]) for j in range(k + 1))
        torch.testing.assert_close(A[k], expected)
    # lambda = 1 telescopes to the regularised return minus the value where the step starts
    one = ctrl_ppo.gae(V, kls, beta, 1.0)
    for k in range(T):
        torch.testing.assert_close(one[k], r - beta * kls[:k + 1].sum(0) - V[k + 1])


def test_the_first_ratio_is_exactly_one_with_the_critic_attached():
    cfg, policy, train, _, reward = setting(critic="structured")
    ctrl_ppo.make_optimizer(policy, cfg.algorithm)
    assert hasattr(policy, "critic")
    batch = collect(policy, train, 16, torch.Generator().manual_seed(3), reward)
    steps = torch.nonzero(train > 0).flatten()
    assert torch.equal(chain_log_probs(policy, batch.xs, steps, train), batch.logps[steps])


def test_critic_none_is_ddpo_bitwise():
    cfg, p1, train, _, reward = setting(critic="none")
    ctrl_ppo.train(p1, train, reward, cfg.algorithm, torch.Generator().manual_seed(4))
    _, p2, _, _, _ = setting(critic="none")
    ddpo_cfg = DDPOAlgorithm.model_validate({k: v for k, v in cfg.algorithm.model_dump().items()
                                             if k in DDPOAlgorithm.model_fields and k != "kind"} | {"kind": "ddpo"})
    ddpo.train(p2, train, reward, ddpo_cfg, torch.Generator().manual_seed(4))
    assert torch.equal(p1.theta_A, p2.theta_A) and torch.equal(p1.theta_b, p2.theta_b)
    assert not torch.equal(p1.theta_A, torch.zeros_like(p1.theta_A))


@pytest.mark.parametrize("critic", ["structured", "plain"])
def test_negated_advantages_move_the_reward_the_other_way(critic):
    moved = {}
    for sign in (1, -1):
        cfg, policy, train, ode, reward = setting(critic=critic, advantage_sign=sign, kl_coef=0.1)
        before, _ = expected_reward(policy, ode, reward, "exact")
        ctrl_ppo.train(policy, train, reward, cfg.algorithm, torch.Generator().manual_seed(5))
        moved[sign] = expected_reward(policy, ode, reward, "exact")[0] - before
    assert moved[1] > 0.1 and moved[-1] < -0.1, moved


def test_the_critics_target_averages_to_the_exact_conditional_reward():
    """The return the critic regresses on (beta = 0: the final reward) has, given the state at a level,
    the exact conditional expected reward as its mean: grouped by a shared state, chains agree."""
    cfg, policy, train, _, reward = setting()
    level, n = 6, 40_000
    x = torch.tensor([[0.4, -0.9]], dtype=torch.float64)
    g = torch.Generator().manual_seed(6)
    from engine.samplers.gddim import sample_chain
    sub = slice(0, level)
    with torch.no_grad():
        out = sample_chain(lambda y, k: policy.eps(y, k), policy.a[:level + 1], policy.s[:level + 1], train[sub],
                           x.expand(n, 2).clone(), g, record=False)
    G = ctrl_ppo.returns_to_go(reward(out["x0"]), None, 0.0)[0]
    exact = float(policy.conditional_reward(x, level, train, reward)[0])
    assert abs(float(G.mean()) - exact) < 4 * float(G.std()) / math.sqrt(n)


def test_the_spec_model_rejects_an_unknown_critic():
    with pytest.raises(Exception, match="critic"):
        CtrlPPOAlgorithm.model_validate({"kind": "ctrl_ppo", "critic": "deep"})


def test_the_sd15_paper_spec_compiles_to_a_torchrun_gpu_dag():
    """The published-scale spec (the authors' SD 1.5 settings, PickScore for ImageReward) validates and
    compiles to a 4-process GPU finetune and single-GPU evaluations across step counts and solvers."""
    from engine import launch
    from engine.plan import build_plan
    from .conftest import ROOT
    plan = build_plan("paper", files=[ROOT / "specs" / "sd15_ctrl_ppo_pickscore_paper.yaml"])
    (spec,) = plan.specs
    runs = spec.runs
    assert len(runs) == 6                                   # evaluation steps {25, 50, 100} x solver {euler, heun}
    cfg = runs[0].config
    alg = cfg.algorithm
    assert (alg.kind, alg.critic, alg.lr, alg.clip_range, alg.batch_size, alg.minibatches, alg.epochs) == \
        ("ctrl_ppo", "structured", 5e-5, 1.5e-5, 512, 2, 100)
    assert (cfg.sampler.steps, cfg.sampler.stochasticity, cfg.model.guidance_scale, cfg.reward.kind) == \
        (50, 1.0, 7.0, "pickscore")
    jobs = {}
    for j in plan.jobs.values():
        jobs.setdefault(j.stage, []).append(j)
    assert set(jobs) == {"finetune", "evaluate"} and len({plan.run_hash(r, "finetune") for r in runs}) == 1
    (ft,) = jobs["finetune"]
    assert launch.command(ft).endswith("--nproc_per_node 4 -m engine") and launch.gpus(ft) == 4
    assert all(launch.gpus(j) == 1 for j in jobs["evaluate"])


def test_the_critic_is_fit_on_every_trained_state_with_its_return_and_anchor(monkeypatch):
    """What train hands the value regression: the state at the start of every trained step, the return
    from there (the final reward: the policy starts at the pretrained model, so every step's KL is 0), and
    the anchor r(x0_hat) of the model that sampled the chains."""
    cfg, policy, train, _, reward = setting(critic="structured", kl_coef=0.5, epochs=1, batch_size=32)
    seen = {}
    fit = ctrl_ppo.Critic.fit

    def spy(self, opt, xs, levels, anchors, targets, prompts, generator):
        seen.update(xs=xs.clone(), levels=levels.clone(), anchors=anchors.clone(), targets=targets.clone())
        return fit(self, opt, xs, levels, anchors, targets, prompts, generator)
    monkeypatch.setattr(ctrl_ppo.Critic, "fit", spy)
    ctrl_ppo.train(policy, train, reward, cfg.algorithm, torch.Generator().manual_seed(2))
    xs, levels = seen["xs"], seen["levels"]
    assert levels.tolist() == list(range(2, 11))                # steps 1..9 are stochastic, step 0 is not
    torch.testing.assert_close(seen["targets"], reward(xs[0]).expand(len(levels), -1))
    pre = gaussian.pretrained(cfg, {})
    for i, lv in enumerate(levels.tolist()):
        x0_hat = (xs[lv] - pre.s[lv] * pre.eps(xs[lv], lv - 1)) / pre.a[lv]
        torch.testing.assert_close(seen["anchors"][i], reward(x0_hat))
