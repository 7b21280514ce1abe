"""Gaussian and Gaussian-mixture data with exact scores, and the fine-tunable policy.

Data: N(mu, v I) or sum_j w_j N(mu_j 1, v_j I). Under x_t = a x0 + s eps the
marginal is a Gaussian (mixture) with mean a mu_j and variance a^2 v_j + s^2, and the
optimal eps-prediction is E[eps | x_t] = sum_j r_j(x) s (x - a mu_j) / (a^2 v_j + s^2)
with posterior responsibilities r_j.

Policy: eps_theta(x, k) = eps*(x, k) + A_k * x + b_k, a per-step diagonal affine
correction (zero at initialization = the pretrained model).

The KL-regularised optimum (arXiv 2510.10767, Section 3). Fine-tuning maximises
E[r(x0)] - beta KL(P_theta || P_pre) over sampling chains. In continuous time the optimal chain
is the pretrained one tilted by exp(r(x0)/beta): the forward (noising) process started from the
tilted target p*(x) ∝ p_data(x) exp(r(x)/beta), so its score at every t is the score of p*'s
forward marginal. For N(mu, v I) data and r(x) = -scale |x - c|^2, p* = N(m*, v* I) with
1/v* = 1/v + 2 scale/beta and m* = v* (mu/v + 2 scale c/beta) (beta = 0: the point mass at c);
its eps-prediction s (x - a m*) / (a^2 v* + s^2) is affine in x, so the optimum theta* lies in
the policy class and is computed here without training (`optimal_policy`). At finite T the
chain with theta* reaches p* only up to discretisation: its gap is the discretisation-only gap.
"""
from __future__ import annotations

import torch
from torch import nn

from .gaussian_score_kind import has_optimum
from .processes import grid, level_times, prior_std


class GaussianData:
    """The data distribution and its exact eps-prediction at any (a, s)."""

    def __init__(self, data_cfg):
        self.dim = data_cfg.dim
        if data_cfg.kind == "gaussian":
            self.means = torch.tensor([data_cfg.mean], dtype=torch.float64)
            self.vars = torch.tensor([data_cfg.std ** 2], dtype=torch.float64)
            self.weights = torch.tensor([1.0], dtype=torch.float64)
        else:
            self.means = torch.tensor(data_cfg.means, dtype=torch.float64)
            self.vars = torch.tensor(data_cfg.stds, dtype=torch.float64) ** 2
            w = torch.tensor(data_cfg.weights, dtype=torch.float64)
            self.weights = w / w.sum()
        self.is_gaussian = len(self.weights) == 1

    def eps_star(self, x: torch.Tensor, a, s) -> torch.Tensor:
        """Exact E[eps | x_t = x]. a, s: 0-dim, or shaped like x with a trailing 1."""
        a = torch.as_tensor(a, dtype=x.dtype)
        s = torch.as_tensor(s, dtype=x.dtype)
        if a.dim() == 0:
            a, s = a.reshape(1), s.reshape(1)
        if self.is_gaussian:
            mu, v = self.means[0], self.vars[0]
            return s * (x - a * mu) / (a * a * v + s * s)
        a_, s_ = a[..., None], s[..., None]                  # [..., 1, 1]
        v = a_ * a_ * self.vars + s_ * s_                    # [..., 1, J]
        diff = x[..., None] - a_ * self.means                # [..., d, J]
        logp = -0.5 * (diff * diff / v).sum(-2) - 0.5 * self.dim * torch.log(v[..., 0, :]) + torch.log(self.weights)
        r = torch.softmax(logp, dim=-1)                      # [..., J]
        return (s_ * diff / v * r[..., None, :]).sum(-1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[comp][:, None] + self.vars[comp].sqrt()[:, None] * z


class AffinePolicy(nn.Module):
    """Exact eps* plus a learnable per-step diagonal affine correction."""

    def __init__(self, data: GaussianData, process, steps: int, init_scale: float = 0.0,
                 generator: torch.Generator | None = None, start: str = "process"):
        super().__init__()
        self.data = data
        self.process = process
        self.steps = steps
        self.start = start          # "process": N(0, prior_std^2 I); "marginal": the forward marginal at T
        a, s = grid(process, steps)
        self.register_buffer("a", a)
        self.register_buffer("s", s)
        init = lambda: (init_scale * torch.randn(steps, data.dim, generator=generator, dtype=torch.float64)
                        if init_scale > 0 else torch.zeros(steps, data.dim, dtype=torch.float64))
        self.A = nn.Parameter(init())
        self.b = nn.Parameter(init())

    def eps(self, x: torch.Tensor, k, prompts=None) -> torch.Tensor:
        """eps-prediction at grid level k+1; k an int, or a tensor [S] with x of shape [S, n, d]."""
        if isinstance(k, int):
            a, s = self.a[k + 1], self.s[k + 1]
            return self.data.eps_star(x, a, s) + self.A[k] * x + self.b[k]
        a = self.a[k + 1][:, None, None]
        s = self.s[k + 1][:, None, None]
        return self.data.eps_star(x, a, s) + self.A[k][:, None, :] * x + self.b[k][:, None, :]

    def reset_to_pretrained(self) -> None:
        with torch.no_grad():
            self.A.zero_()
            self.b.zero_()

    def eps_ref(self, x: torch.Tensor, k, prompts=None) -> torch.Tensor:
        """The pretrained (exact) eps-prediction, no correction."""
        if isinstance(k, int):
            return self.data.eps_star(x, self.a[k + 1], self.s[k + 1])
        return self.data.eps_star(x, self.a[k + 1][:, None, None], self.s[k + 1][:, None, None])

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.start == "marginal":
            if not self.data.is_gaussian:      # a mixture's forward marginal at T: draw x0, then noise it
                x0 = self.data.sample(n, generator)
                return self.a[-1] * x0 + self.s[-1] * torch.randn(n, self.data.dim, generator=generator,
                                                                  dtype=torch.float64)
            m, v = self.prior_moments()
            return m + v.sqrt() * torch.randn(n, self.data.dim, generator=generator, dtype=torch.float64)
        return prior_std(self.process) * torch.randn(n, self.data.dim, generator=generator, dtype=torch.float64)

    def eps_coeffs(self, k: int, corrected: bool = True):
        """eps at level k+1 (step k's start) as alpha x + beta, exact for Gaussian data."""
        a_t, s_t = self.a[k + 1], self.s[k + 1]
        mu, v = self.data.means[0], self.data.vars[0]
        den = a_t * a_t * v + s_t * s_t
        return s_t / den + (self.A[k] if corrected else 0.0), -s_t * a_t * mu / den + (self.b[k] if corrected else 0.0)

    def affine_coeffs(self, k: int, std, corrected: bool = True):
        """The step x_k = M x + N + std z as (M, N), exact for Gaussian data (eps affine in x).
        corrected=False: the pretrained model's step (no correction)."""
        a_t, s_t, a_p, s_p = self.a[k + 1], self.s[k + 1], self.a[k], self.s[k]
        alpha, beta = self.eps_coeffs(k, corrected)
        c_p = (s_p * s_p - std * std).clamp_min(0.0).sqrt()
        g = c_p - a_p * s_t / a_t
        return a_p / a_t + g * alpha, g * beta

    def heun_coeffs(self, k: int):
        """The deterministic step k by Heun in y = x / a over sigma = s / a (second_order.eps_chain_mean_fn)
        as x_k = M x + N, exact: eps is affine in x at both ends. The last step (k = 0) is Euler (DDIM)."""
        a_t, a_p = self.a[k + 1], self.a[k]
        h = self.s[k] / a_p - self.s[k + 1] / a_t
        alpha, beta = self.eps_coeffs(k)
        M1, N1 = a_p / a_t + a_p * h * alpha, a_p * h * beta           # the Euler point
        if k == 0:
            return M1, N1
        alpha_p, beta_p = self.eps_coeffs(k - 1)
        return (a_p / a_t + 0.5 * a_p * h * (alpha + alpha_p * M1),
                0.5 * a_p * h * (beta + alpha_p * N1 + beta_p))

    def prior_moments(self):
        """Mean and variance (per dimension) of the sampler's start x_T ~ `prior`."""
        d = self.data.dim
        if self.start == "marginal":
            a_T, s_T = self.a[-1], self.s[-1]
            mu, v = self.data.means[0], self.data.vars[0]
            return torch.full((d,), float(a_T * mu), dtype=torch.float64), \
                torch.full((d,), float(a_T * a_T * v + s_T * s_T), dtype=torch.float64)
        return torch.zeros(d, dtype=torch.float64), torch.full((d,), prior_std(self.process) ** 2, dtype=torch.float64)

    def exact_moments(self, stds: torch.Tensor, init_mean=None, init_var=None, plan=None):
        """Mean and variance (per dimension) of x_0 under the chain with step stds `stds`; plan: its
        deterministic steps by Heun (second_order.full_plan)."""
        if not self.data.is_gaussian:
            raise ValueError("exact moments need Gaussian data (a mixture is evaluated by Monte Carlo)")
        if plan is not None and plan.solver != "heun":
            raise ValueError(f"exact moments take Heun plans, not {plan.solver!r}")
        m, v, _ = self._walk(stds, init_mean, init_var, plan=plan)
        return m, v

    def conditional_reward(self, x: torch.Tensor, level: int, stds: torch.Tensor, reward) -> torch.Tensor:
        """E[r(x_0) | x_level = x] for each row of x [n, d] under the chain with step stds `stds`, exactly:
        the steps below `level` are affine in x plus Gaussian noise, so x_0 given x is Gaussian. The
        value a continuous-time critic learns (engine/algorithms/value.py); level 0 gives r(x)."""
        m, v = x, torch.zeros(x.shape[-1], dtype=x.dtype)
        with torch.no_grad():
            for k in range(level - 1, -1, -1):
                M, N = self.affine_coeffs(k, stds[k])
                m = M * m + N
                v = M * M * v + stds[k] ** 2
        return reward.expectation_rows(m, v)

    def exact_kl(self, stds: torch.Tensor) -> torch.Tensor:
        """KL(P_theta || P_pre) of whole chains under step stds `stds` (engine/algorithms/kl.py), exactly:
        sum over stochastic steps of E|dM x + dN|^2 / (2 std^2), x the chain's state before the step."""
        return self._walk(stds, with_kl=True)[2]

    def _walk(self, stds, init_mean=None, init_var=None, with_kl: bool = False, plan=None):
        """The chain from level T to 0 in moments: (mean, variance) of x_0, and the chain KL when asked."""
        m0, v0 = self.prior_moments()
        m = m0 if init_mean is None else init_mean
        v = v0 if init_var is None else init_var
        kl = torch.zeros((), dtype=torch.float64)
        for k in range(self.steps - 1, -1, -1):
            heun = plan is not None and bool(plan.active[k])
            M, N = self.heun_coeffs(k) if heun else self.affine_coeffs(k, stds[k])
            if with_kl and stds[k] > 0:
                M0, N0 = self.affine_coeffs(k, stds[k], corrected=False)
                dM, dN = M - M0, N - N0
                kl = kl + (dM * dM * (m * m + v) + 2 * dM * dN * m + dN * dN).sum() / (2 * stds[k] ** 2)
            m = M * m + N
            v = M * M * v + stds[k] ** 2
        return m, v, kl


class ContinuousAffinePolicy(AffinePolicy):
    """The same exact eps* plus a correction that is a function of continuous time (the continuous-time
    RL papers' policy, arXiv 2409.08400 / 2502.01819): A(t) = sum_j theta_A[j] t^j, b(t) likewise, with t
    the level's time (processes.level_times), so one trained theta samples at any step count. Per step it
    is still affine in x, so exact moments, KL and the rest of AffinePolicy hold unchanged."""

    def __init__(self, data: GaussianData, process, steps: int, degree: int = 3, init_scale: float = 0.0,
                 generator: torch.Generator | None = None, start: str = "process"):
        super().__init__(data, process, steps, 0.0, None, start)
        del self._parameters["A"], self._parameters["b"]
        times = level_times(process, steps)[1:]                        # step k uses level k + 1
        self.register_buffer("features", times[:, None] ** torch.arange(degree + 1, dtype=torch.float64))
        init = lambda: (init_scale * torch.randn(degree + 1, data.dim, generator=generator, dtype=torch.float64)
                        if init_scale > 0 else torch.zeros(degree + 1, data.dim, dtype=torch.float64))
        self.theta_A = nn.Parameter(init())
        self.theta_b = nn.Parameter(init())

    @property
    def A(self) -> torch.Tensor:            # [steps, d]
        return self.features @ self.theta_A

    @property
    def b(self) -> torch.Tensor:
        return self.features @ self.theta_b

    def reset_to_pretrained(self) -> None:
        with torch.no_grad():
            self.theta_A.zero_()
            self.theta_b.zero_()


# ----------------------------------------------------------------------------- the KL-regularised optimum
def tilted_target(data: GaussianData, center: float, scale: float, beta: float):
    """(mean, var) per dimension of p* ∝ N(mu, v I) exp(-scale |x - c|^2 / beta); beta = 0: (c, 0)."""
    if not data.is_gaussian:
        raise ValueError("the tilted target is Gaussian only for Gaussian data")
    mu, v, d = float(data.means[0]), float(data.vars[0]), data.dim
    if beta == 0:
        mean, var = center, 0.0
    else:
        var = 1.0 / (1.0 / v + 2.0 * scale / beta)
        mean = var * (mu / v + 2.0 * scale * center / beta)
    return torch.full((d,), mean, dtype=torch.float64), torch.full((d,), var, dtype=torch.float64)


def optimal_policy(p: AffinePolicy, mean: torch.Tensor, var: torch.Tensor) -> AffinePolicy:
    """A copy of `p` whose correction makes eps the exact eps-prediction of N(mean, var) data (theta*)."""
    q = AffinePolicy(p.data, p.process, p.steps, start=p.start)
    a, s = p.a[1:, None], p.s[1:, None]
    mu, v = p.data.means[0], p.data.vars[0]
    with torch.no_grad():
        q.A.copy_(s / (a * a * var + s * s) - s / (a * a * v + s * s))
        q.b.copy_(-s * a * mean / (a * a * var + s * s) + s * a * mu / (a * a * v + s * s))
    return q


def w2(m1: torch.Tensor, v1: torch.Tensor, m2: torch.Tensor, v2: torch.Tensor) -> float:
    """Wasserstein-2 distance between N(m1, diag v1) and N(m2, diag v2)."""
    with torch.no_grad():
        return float((((m1 - m2) ** 2).sum() + ((v1.sqrt() - v2.sqrt()) ** 2).sum()).sqrt())


def _target(p: AffinePolicy, cfg):
    return tilted_target(p.data, cfg.reward.center, cfg.reward.scale, cfg.algorithm.kl_coef)


def curve_metrics(p: AffinePolicy, cfg, ode_stds, train_stds) -> dict:
    """The training curve's distances to the optimum: W2 to p* of both samplers, and the chain KL."""
    if not has_optimum(cfg):
        return {}
    m_star, v_star = _target(p, cfg)
    with torch.no_grad():
        return {"w2_ode": w2(*p.exact_moments(ode_stds), m_star, v_star),
                "w2_sde": w2(*p.exact_moments(train_stds), m_star, v_star),
                "kl": float(p.exact_kl(train_stds))}


def evaluation_metrics(finetuned: AffinePolicy, pretrained: AffinePolicy, cfg, ode_stds, train_stds, reward,
                       ode_plan=None) -> dict:
    """The fine-tuned, pretrained and optimal (theta*) policies against the tilted target p*, exactly:
    W2 of each sampler's terminal law to p*, the chain KL to the pretrained model under the training
    sampler, the regularised objective E_sde[r] - beta KL, and theta*'s rewards and gap. ode_plan: the
    ODE sampler's solver (second_order.full_plan), as the evaluation's."""
    if not has_optimum(cfg):
        return {}
    beta = cfg.algorithm.kl_coef
    m_star, v_star = _target(finetuned, cfg)
    opt = optimal_policy(finetuned, m_star, v_star)
    out = {}
    with torch.no_grad():
        for name, pol in (("", finetuned), ("_optimum", opt), ("_pretrained", pretrained)):
            r = {}
            for sampler, stds, plan in (("ode", ode_stds, ode_plan), ("sde", train_stds, None)):
                m, v = pol.exact_moments(stds, plan=plan)
                r[sampler] = float(reward.expectation(m, v))
                out[f"w2_{sampler}{name}"] = w2(m, v, m_star, v_star)
            if name == "_pretrained":
                continue
            kl = float(pol.exact_kl(train_stds))
            out[f"kl{name}"] = kl
            out[f"objective{name}"] = r["sde"] - beta * kl
            if name == "_optimum":
                out.update(reward_ode_optimum=r["ode"], reward_sde_optimum=r["sde"], gap_optimum=r["ode"] - r["sde"])
    return out


# ----------------------------------------------------------------------------- the model contract
def policy(cfg, upstream: dict, generator=None) -> AffinePolicy:
    """The fine-tunable policy of a run config (data, model, sampler steps)."""
    if cfg.model.correction == "continuous":
        return ContinuousAffinePolicy(GaussianData(cfg.data), cfg.model.process, cfg.sampler.steps,
                                      cfg.model.time_degree, cfg.model.init_scale, generator, start=cfg.model.start)
    return AffinePolicy(GaussianData(cfg.data), cfg.model.process, cfg.sampler.steps, cfg.model.init_scale, generator,
                        start=cfg.model.start)


def pretrained(cfg, upstream: dict, generator=None) -> AffinePolicy:
    p = policy(cfg, upstream, generator)
    p.reset_to_pretrained()
    return p


TRAINED = ("A", "b", "theta_A", "theta_b")      # the correction's parameters (per step, or continuous in t)


def save_trained(p: AffinePolicy, out_dir) -> None:
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous() for k, v in p.state_dict().items() if k in TRAINED},
              str(out_dir / "policy.safetensors"))


def finetuned(cfg, upstream: dict, result_dir, generator=None) -> AffinePolicy:
    """The trained policy on the grid of cfg.sampler.steps. A continuous correction loads as it is; a
    per-step one trained with another step count gives each step the correction of the trained step
    nearest in time (piecewise constant: how a per-step policy transfers)."""
    from safetensors.torch import load_file
    p = policy(cfg, upstream, generator)
    saved = load_file(str(result_dir / "policy.safetensors"))
    if "A" in saved and len(saved["A"]) != p.steps:
        trained = level_times(p.process, len(saved["A"]))[1:]
        nearest = (level_times(p.process, p.steps)[1:, None] - trained[None]).abs().argmin(1)
        saved = {k: v[nearest] for k, v in saved.items()}
    p.load_state_dict({**p.state_dict(), **saved})
    return p
