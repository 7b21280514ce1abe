"""The gDDIM sampler against independent oracles: diffusers' DDIM step, closed-form
Gaussian marginals, torch.distributions, and Monte Carlo."""
import math

import pytest
import torch

from engine.algorithms.ddpo import chain_log_probs
from engine.evaluation import expected_reward
from engine.models.gaussian import AffinePolicy, GaussianData
from engine.models.processes import grid
from engine.rewards.quadratic import QuadraticReward
from engine.samplers.ddim import ddim_stds
from engine.samplers.gddim import gddim_stds, log_prob, sample_chain, step
from engine.data.gaussian_kind import GaussianData as GaussianDataSpec
from engine.data.gaussian_mixture_kind import GaussianMixtureData
from engine.models.process_spec import VEProcess, VPProcess



@pytest.fixture(autouse=True)
def float64():
    """These checks run in float64; restore the default for the other test modules."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_step_matches_diffusers_ddim(lam):
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False,
                          set_alpha_to_one=True, timestep_spacing="leading")
    sched.alphas_cumprod = sched.alphas_cumprod.double()
    sched.final_alpha_cumprod = sched.final_alpha_cumprod.double()
    sched.set_timesteps(50)
    g = torch.Generator().manual_seed(0)
    checked = 0
    for t in sched.timesteps[::7].tolist() + [sched.timesteps[-1].item()]:
        x = torch.randn(4, 3, 8, 8, generator=g)
        eps = torch.randn(4, 3, 8, 8, generator=g)
        noise = torch.randn(4, 3, 8, 8, generator=g)
        prev = t - 1000 // 50
        abar_t = sched.alphas_cumprod[t]
        abar_p = sched.alphas_cumprod[prev] if prev >= 0 else sched.final_alpha_cumprod
        a = torch.stack([abar_p, abar_t]).sqrt()
        s = (1 - torch.stack([abar_p, abar_t])).sqrt()
        std = gddim_stds(a, s, lam)[0]
        ours, _ = step(x, eps, a[1], s[1], a[0], s[0], std, noise)
        ref = sched.step(eps, t, x, eta=lam, variance_noise=noise).prev_sample
        assert torch.allclose(ours, ref, atol=1e-6, rtol=0), (t, (ours - ref).abs().max())
        checked += 1
    assert checked >= 5


def test_gddim_lambda_one_is_ddpm_and_large_lambda_renoises_fully():
    a, s = grid(VPProcess(kind="vp"), 20)
    assert torch.allclose(gddim_stds(a, s, 1.0), ddim_stds(a, s, 1.0), atol=1e-12)
    assert torch.all(gddim_stds(a, s, 0.0) == 0)
    big = gddim_stds(a, s, 200.0)
    assert torch.allclose(big[1:], s[1:-1], rtol=1e-6)        # std^2 -> s_prev^2
    stds = [gddim_stds(a, s, lam) for lam in (0.5, 1, 2, 3, 5)]
    assert all(torch.all(x[1:] < y[1:]) for x, y in zip(stds, stds[1:]))   # more lambda, more noise
    assert all(x[0] == 0 for x in stds)                        # last step is deterministic


def test_ve_noise_matches_closed_form():
    a, s = grid(VEProcess(kind="ve", sigma_min=0.02, sigma_max=30.0), 12)
    lam = 2.5
    ours = gddim_stds(a, s, lam)
    sig_t, sig_p = s[1:], s[:-1]
    expected = (sig_p ** 2 * (1 - (sig_p ** 2 / sig_t ** 2) ** (lam ** 2))).sqrt()
    assert torch.allclose(ours, expected, atol=1e-12)


def test_log_prob_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mean, x = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    std = torch.tensor(0.37)
    ref = torch.distributions.Normal(mean, std).log_prob(x).sum(1)
    assert torch.allclose(log_prob(x, mean, std), ref, atol=1e-10)


def _exact_marginal_error(process, lam, steps, mu=0.7, sd=0.5):
    data = GaussianData(GaussianDataSpec(kind="gaussian", dim=1, mean=mu, std=sd))
    pol = AffinePolicy(data, process, steps)
    stds = gddim_stds(pol.a, pol.s, lam)
    aT, sT = pol.a[-1], pol.s[-1]
    m, v = pol.exact_moments(stds, init_mean=(aT * mu).reshape(1), init_var=(aT ** 2 * sd ** 2 + sT ** 2).reshape(1))
    return float((m - mu).abs().detach() + (v.sqrt() - sd).abs().detach())     # W2 of 1-d Gaussians


@pytest.mark.parametrize("process", [VPProcess(kind="vp"), VEProcess(kind="ve", sigma_min=0.01, sigma_max=20.0)],
                         ids=["vp", "ve"])
@pytest.mark.parametrize("lam", [0.0, 1.0, 3.0, 10.0])
def test_marginal_error_shrinks_with_steps(process, lam):
    """Marginal-preserving in continuous time: with the exact score the error at t = 0 is pure
    discretization error and vanishes as steps grow (slowly for large lambda, ~lambda^2 / T)."""
    errs = [_exact_marginal_error(process, lam, T) for T in (10, 40, 160, 640, 2560, 10240)]
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < {0.0: 0.01, 1.0: 0.01, 3.0: 0.05, 10.0: 0.5}[lam] * errs[0], errs


def _random_policy(process, dim=3, steps=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = GaussianData(GaussianDataSpec(kind="gaussian", dim=dim, mean=0.5, std=0.8))
    return AffinePolicy(data, process, steps, init_scale=0.2, generator=g)


@pytest.mark.parametrize("process", [VPProcess(kind="vp"), VEProcess(kind="ve")], ids=["vp", "ve"])
def test_sampling_log_probs_equal_training_recomputation(process):
    pol = _random_policy(process)
    stds = gddim_stds(pol.a, pol.s, 2.0)
    g = torch.Generator().manual_seed(3)
    out = sample_chain(pol.eps, pol.a, pol.s, stds, pol.prior(64, g), g)
    steps = torch.arange(1, len(stds))                 # every stochastic step
    recomputed = chain_log_probs(pol, out["xs"], steps, stds)
    assert torch.allclose(recomputed, out["logps"][steps], atol=1e-9)
    assert torch.all(out["logps"][0] == 0)            # deterministic last step carries none


@pytest.mark.parametrize("process", [VPProcess(kind="vp"), VEProcess(kind="ve", sigma_max=5.0)], ids=["vp", "ve"])
@pytest.mark.parametrize("lam", [0.0, 2.0])
def test_exact_evaluation_agrees_with_monte_carlo(process, lam):
    pol = _random_policy(process, dim=2, steps=10, seed=5)
    reward = QuadraticReward(1.5)
    stds = gddim_stds(pol.a, pol.s, lam)
    exact, _ = expected_reward(pol, stds, reward, "exact")
    mc, se = expected_reward(pol, stds, reward, "monte_carlo", samples=100_000, seed=11)
    assert se > 0
    assert abs(exact - mc) < 4 * se, (exact, mc, se)


def test_mixture_score_matches_autograd_of_log_density():
    data = GaussianData(GaussianMixtureData(kind="gaussian_mixture", dim=2, means=[-2.0, 1.0],
                                              stds=[0.5, 0.8], weights=[0.3, 0.7]))
    a, s = torch.tensor(0.8), torch.tensor(0.6)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(0), requires_grad=True)
    comps = [torch.distributions.Normal(a * m, (a * a * v + s * s).sqrt()) for m, v in zip(data.means, data.vars)]
    logp = torch.logsumexp(torch.stack([torch.log(w) + c.log_prob(x).sum(1) for w, c in zip(data.weights, comps)]), 0)
    (score,) = torch.autograd.grad(logp.sum(), x)
    assert torch.allclose(data.eps_star(x.detach(), a, s), -s * score, atol=1e-10)
