"""The rectified-flow family and its samplers against independent oracles: diffusers' flow
schedulers (Euler, Heun, DPM-Solver++ with flow sigmas), the flow SDE step written out from
its formula, torch.distributions, and Gaussian data whose velocity is known in closed form."""
import math

import pytest
import torch

from engine.models.flow_unet import FlowUNetPolicy
from engine.samplers import chain_step, flow_sde
from engine.samplers.gddim import log_prob, sample_chain
from engine.samplers.second_order import OdePlan, compressed_landings


class Out:
    def __init__(self, sample):
        self.sample = sample


class SmoothNet(torch.nn.Module):
    """A fixed smooth velocity field v(x, t), called as a diffusers UNet (timestep = 1000 t)."""

    def forward(self, x, timestep, class_labels=None):
        t = (timestep / 1000).view(-1, *[1] * (x.dim() - 1)).to(x.dtype)
        return Out(torch.sin(x) * t + 0.3 * x - 0.1 * (1 - t))


class GaussianVelocity(torch.nn.Module):
    """The exact velocity E[eps - x0 | x_t] for data N(mu, var): affine in x."""

    def __init__(self, mu: float, var: float):
        super().__init__()
        self.mu, self.var = mu, var

    def forward(self, x, timestep, class_labels=None):
        t = (timestep / 1000).view(-1, *[1] * (x.dim() - 1)).double()
        m, v = (1 - t) * self.mu, (1 - t) ** 2 * self.var + t ** 2
        return Out((-self.mu + (t - (1 - t) * self.var) / v * (x - m)).to(x.dtype))


def policy(net, steps, grid=None, size=3):
    p = FlowUNetPolicy(net, steps, 1.0, size)
    if grid is not None:                       # a scheduler's own sigmas (ascending levels)
        t = torch.as_tensor(grid, dtype=torch.float32)
        assert t.shape == (steps + 1,) and t[0] == 0
        p.t, p.a, p.s = t, 1 - t, t.clone()
    return p


def levels_of(sigmas):
    """diffusers' descending sigmas (ending in 0) as our ascending level grid."""
    return torch.as_tensor(sigmas, dtype=torch.float64).flip(0)


def test_the_euler_ode_is_diffusers_flow_match_euler_step():
    from diffusers import FlowMatchEulerDiscreteScheduler
    T = 8
    p = policy(SmoothNet(), T)
    sch = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    sch.set_timesteps(sigmas=p.t.flip(0)[:-1].tolist())
    assert torch.allclose(sch.sigmas.double(), p.t.flip(0).double(), atol=1e-7)
    x = y = torch.randn(4, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    for i, k in enumerate(range(T - 1, -1, -1)):
        y = sch.step(SmoothNet()(y, sch.timesteps[i].expand(4)).sample, sch.timesteps[i], y).prev_sample
        x = p.step_mean(x, k, torch.tensor(0.0))
    torch.testing.assert_close(x, y, rtol=0, atol=2e-6)


def test_stochasticity_zero_draws_no_noise_and_is_the_euler_ode():
    T = 6
    p = policy(SmoothNet(), T)
    sampler = type("S", (), {"stochasticity": 0.0})()
    assert torch.count_nonzero(flow_sde.step_stds(sampler, p.a, p.s)) == 0
    x = torch.randn(3, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = sample_chain(None, p.a, p.s, torch.zeros(T), x, torch.Generator(), mean_fn=chain_step(p))
        for k in range(T - 1, -1, -1):
            x = x + (p.t[k] - p.t[k + 1]) * SmoothNet()(x, 1000 * p.t[k + 1].expand(3)).sample
    torch.testing.assert_close(out["x0"], x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("lam", [0.5, 1.0, 2.0])
def test_the_sde_step_is_its_formula_and_its_log_probability_is_a_gaussians(lam):
    """Mean, std and log-probability written out here from Flow-GRPO's formula with eta = sqrt(2) lambda;
    the first step (t = 1) takes sigma with the next grid point's t in the denominator."""
    T = 5
    p = policy(SmoothNet(), T)
    sampler = type("S", (), {"stochasticity": lam})()
    stds = flow_sde.step_stds(sampler, p.a, p.s).double()
    t = p.t.double()
    eta = math.sqrt(2) * lam
    for k in range(T):
        tk, tp = float(t[k + 1]), float(t[k])
        denom = 1 - (float(t[T - 1]) if tk == 1 else tk)
        assert math.isclose(float(stds[k]), eta * math.sqrt(tk / denom) * math.sqrt(tk - tp), rel_tol=1e-6)
    x = torch.randn(2, 1, 3, 3, generator=torch.Generator().manual_seed(2))
    k = 2
    tk, tp, dt = float(t[k + 1]), float(t[k]), float(t[k] - t[k + 1])
    v = SmoothNet()(x, 1000 * p.t[k + 1].expand(2)).sample
    sig = eta * math.sqrt(tk / (1 - tk))
    by_hand = x * (1 + sig ** 2 / (2 * tk) * dt) + v * (1 + sig ** 2 * (1 - tk) / (2 * tk)) * dt
    mean = p.step_mean(x, k, stds[k].float())
    torch.testing.assert_close(mean, by_hand, rtol=1e-5, atol=1e-6)
    x_p = mean + stds[k].float() * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    want = torch.distributions.Normal(mean.double(), stds[k]).log_prob(x_p.double()).flatten(1).sum(1)
    torch.testing.assert_close(log_prob(x_p, mean, stds[k].float()).double(), want, rtol=1e-5, atol=1e-4)


def test_an_integer_step_and_a_tensor_of_steps_give_the_same_step_means():
    p = policy(SmoothNet(), 6)
    x = torch.randn(4, 1, 3, 3, generator=torch.Generator().manual_seed(4))
    stds = torch.tensor([0.1, 0.2])
    one = torch.stack([p.step_mean(x, k, stds[i]) for i, k in enumerate((1, 3))])
    many = p.step_mean(torch.stack([x, x]), torch.tensor([1, 3]), stds.view(2, 1, 1, 1, 1))
    torch.testing.assert_close(many, one, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_on_gaussian_data_the_terminal_moments_converge_as_the_steps_shrink(lam):
    """Euler(-Maruyama) is not exact: the error of the terminal mean and variance against the data's
    N(0.7, 0.25) shrinks with the step (10 -> 80 steps), and is small at 80 steps."""
    mu, var, n = 0.7, 0.25, 200_000
    errors = []
    for T in (10, 80):
        p = policy(GaussianVelocity(mu, var), T, size=1)
        stds = flow_sde.step_stds(type("S", (), {"stochasticity": lam})(), p.a, p.s)
        g = torch.Generator().manual_seed(5)
        with torch.no_grad():
            x0 = sample_chain(None, p.a, p.s, stds, torch.randn(n, 1, 1, 1, generator=g, dtype=torch.float64)
                              .float(), g, record=False, mean_fn=chain_step(p))["x0"].double().flatten()
        errors.append(abs(float(x0.mean()) - mu) + abs(float(x0.var()) - var))
    assert errors[1] < 0.5 * errors[0], errors
    assert errors[1] < 0.02, errors


def run_plan(p, plan, x, T):
    mean_fn = chain_step(p, None, plan)
    with torch.no_grad():
        for k in range(T - 1, -1, -1):
            x = mean_fn(x, k, torch.tensor(0.0))
    return x


def test_heun_steps_are_diffusers_flow_match_heun():
    from diffusers import FlowMatchHeunDiscreteScheduler
    T = 6
    sch = FlowMatchHeunDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    sch.set_timesteps(T)
    p = policy(SmoothNet(), T, grid=levels_of(torch.cat([sch.sigmas[::2], torch.zeros(1)])))
    x = y = torch.randn(3, 1, 3, 3, generator=torch.Generator().manual_seed(6))
    for tt in sch.timesteps:
        y = sch.step(SmoothNet()(y, tt.expand(3)).sample, tt, y).prev_sample
    ones = torch.ones(T, dtype=torch.bool)
    torch.testing.assert_close(run_plan(p, OdePlan("heun", ones, ones), x, T), y, rtol=0, atol=2e-5)
    assert (run_plan(p, OdePlan("euler", ones, ones), x, T) - y).abs().max() > 1e-3   # it tells them apart


def test_dpm_solver_2m_steps_are_diffusers_dpm_solver_with_flow_sigmas():
    from diffusers import DPMSolverMultistepScheduler
    T = 6
    sch = DPMSolverMultistepScheduler(num_train_timesteps=1000, use_flow_sigmas=True, prediction_type="flow_prediction",
                                      flow_shift=1.0, algorithm_type="dpmsolver++", solver_order=2,
                                      solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero")
    sch.set_timesteps(T)
    p = policy(SmoothNet(), T, grid=levels_of(sch.sigmas))
    x = y = torch.randn(3, 1, 3, 3, generator=torch.Generator().manual_seed(7))
    for i, tt in enumerate(sch.timesteps):
        y = sch.step(SmoothNet()(y, 1000 * sch.sigmas[i].expand(3)).sample, tt, y).prev_sample
    ones = torch.ones(T, dtype=torch.bool)
    euler = run_plan(p, OdePlan("euler", ones, ones), x, T)
    torch.testing.assert_close(run_plan(p, OdePlan("dpmsolver2m", ones, ones), x, T), y, rtol=0, atol=2e-5)
    assert (euler - y).abs().max() > 1e-3          # the oracle tells the solvers apart


def test_second_order_solvers_are_closer_to_the_exact_flow_than_euler():
    """Gaussian data: 400 Heun steps stand in for the exact ODE; at 6 steps Heun and DPM-Solver++(2M)
    land closer to it than Euler does."""
    net = GaussianVelocity(0.7, 0.25)
    x = torch.randn(1000, 1, 1, 1, generator=torch.Generator().manual_seed(8))
    ones = lambda T: torch.ones(T, dtype=torch.bool)  # noqa: E731
    exact = run_plan(policy(net, 400, size=1), OdePlan("heun", ones(400), ones(400)), x, 400)
    err = {s: float((run_plan(policy(net, 6, size=1), OdePlan(s, ones(6), ones(6)), x, 6) - exact).abs().mean())
           for s in ("euler", "heun", "dpmsolver2m")}
    assert err["heun"] < 0.5 * err["euler"] and err["dpmsolver2m"] < 0.5 * err["euler"], err


def test_flash_compression_keeps_the_authors_count_and_ends_at_the_data():
    """MixGRPO's scripts: 25 steps, a window of 4 at the start, compression 0.4 -> 7 steps after the window."""
    active = torch.zeros(25, dtype=torch.bool)
    active[:21] = True
    lands = compressed_landings(active, 0.4)
    assert int(lands.sum()) == 7 and bool(lands[0]) and not lands[21:].any()
    short = torch.zeros(10, dtype=torch.bool)
    short[:2] = True                                  # int(3 * 0.4) = 1 point: still one step to t = 0
    assert compressed_landings(short, 0.4).tolist()[:2] == [True, False]


def test_a_skipped_level_costs_no_model_evaluation():
    calls = []

    class Counting(SmoothNet):
        def forward(self, x, timestep, class_labels=None):
            calls.append(1)
            return super().forward(x, timestep, class_labels)

    T = 10
    p = policy(Counting(), T)
    active = torch.zeros(T, dtype=torch.bool)
    active[:6] = True
    plan = OdePlan("dpmsolver2m", active, compressed_landings(active, 0.4))
    run_plan(p, plan, torch.randn(2, 1, 3, 3), T)
    assert len(calls) == 4 + int(plan.lands.sum())


def test_the_first_step_from_t_1_is_flow_grpos():
    """At t = 1 the noise estimate x + (1 - t) v is x itself and sigma uses the next grid point."""
    T, lam = 5, 0.8
    p = policy(SmoothNet(), T)
    std = flow_sde.step_stds(type("S", (), {"stochasticity": lam})(), p.a, p.s)[T - 1]
    x = torch.randn(2, 1, 3, 3, generator=torch.Generator().manual_seed(9))
    v = SmoothNet()(x, torch.full((2,), 1000.0)).sample
    t_next = float(p.t[T - 1])
    sig2 = 2 * lam ** 2 * 1 / (1 - t_next)                  # eta^2 sigma / (1 - sigma_max), eta = sqrt(2) lambda
    dt = t_next - 1
    by_hand = x * (1 + sig2 / 2 * dt) + v * (1 + 0.0) * dt
    assert math.isclose(float(std) ** 2, sig2 * -dt, rel_tol=1e-5)
    torch.testing.assert_close(p.step_mean(x, T - 1, std), by_hand, rtol=1e-5, atol=1e-6)


def test_large_stochasticity_makes_the_euler_maruyama_step_overshoot():
    """A known property, not a bug: the step multiplies x by 1 - lambda^2 h / (1 - t') (t' = t, or the
    next point at t = 1) besides v's own dependence; on a uniform 10-step grid the first two steps
    give 1 - lambda^2, so lambda = 1 forgets x and lambda = 2 flips and triples it (gDDIM's steps keep
    the marginals for every lambda). With a zero velocity the coefficient is read off directly."""
    class Zero(torch.nn.Module):
        def forward(self, x, timestep, class_labels=None):
            return Out(torch.zeros_like(x))

    T = 10
    p = policy(Zero(), T, size=1)
    x = torch.ones(1, 1, 1, 1)
    for lam, want in ((0.5, 0.75), (1.0, 0.0), (2.0, -3.0)):
        stds = flow_sde.step_stds(type("S", (), {"stochasticity": lam})(), p.a, p.s)
        for k in (T - 1, T - 2):
            assert float(p.step_mean(x, k, stds[k])) == pytest.approx(want, abs=1e-5), (lam, k)
