"""Analysis kind `lq_occupation`: occupation-time policy optimisation (arXiv 2305.18901) on an exploratory
linear-quadratic problem, against the usual discrete-time methods at the same step dt.

One run: a method (pg or ppo) at one step dt and seed. It trains the continuous-time variant and the
discrete-time variant from the same start, on the same simulated noise stream per iteration (common
random numbers), and again both at the reference step `ref_dt`, and writes each one's exact
optimality gap eta* - eta (closed form, no sampling noise) after training, and per iteration.
engine/control/lq.py holds the closed forms, engine/control/occupation_pg.py the four update rules."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..registry import Kind, Metric, Series, register
from ..spec.base import Strict
from ..stages import compute_kind

Entry = Annotated[float, Field(ge=-1e3, le=1e3)]
Matrix = Annotated[list[Entry], Field(min_length=1, max_length=64)]     # row-major (a list of lists is a sweep)
MAX_STEPS = 2_000_000          # simulated steps per iteration, summed over the batch
MAX_WORK = 1_000_000_000       # simulated steps x (1 + PPO epochs) over the run's four trainings


class LQOccupation(Strict):
    """dX = (AX + Bu) dt + sigma dW, reward rate -(x'Qx + u'Ru) + lam * entropy, discount rho;
    x0 ~ N(x0_mean, x0_std^2 I). The state dimension n is len(x0_mean), the action dimension m is
    len(R) (R diagonal, its entries); A (n x n), B (n x m), Q (n x n, symmetric) and sigma (n x n) are
    row-major lists. A - (rho/2) I must be Hurwitz, so that the initial policy N(0, e^{2 init_logstd} I)
    has a finite value (checked when the run computes)."""
    kind: Literal["lq_occupation"]
    A: Matrix
    B: Matrix
    Q: Matrix
    R: list[Annotated[float, Field(gt=0, le=1e3)]] = Field(min_length=1, max_length=8)
    sigma: Matrix
    rho: float = Field(gt=0, le=10)
    lam: float = Field(gt=0, le=10)
    x0_mean: list[Entry] = Field(min_length=1, max_length=8)
    x0_std: float = Field(0.0, ge=0, le=100)
    method: Literal["pg", "ppo"]
    dt: float = Field(gt=0, le=1)
    ref_dt: float = Field(0.1, gt=0, le=1)
    horizon: float = Field(gt=0, le=1000)
    iterations: int = Field(ge=1, le=100_000)
    batch: int = Field(ge=1, le=100_000)
    lr: float = Field(gt=0, le=10)
    epochs: int = Field(10, ge=1, le=100)         # PPO: optimiser steps per batch
    clip: float = Field(0.2, gt=0, le=1)          # PPO ratio clip
    gae: float = Field(0.95, ge=0, le=1)          # DT-PPO: the GAE parameter
    init_logstd: float = Field(0.0, ge=-10, le=5)

    @model_validator(mode="after")
    def _shapes(self):
        n, m = len(self.x0_mean), len(self.R)
        for name, mat, size in (("A", self.A, n * n), ("B", self.B, n * m), ("Q", self.Q, n * n),
                                ("sigma", self.sigma, n * n)):
            if len(mat) != size:
                raise ValueError(f"{name} must have {size} entries, row-major (state dim {n} = len(x0_mean), "
                                 f"action dim {m} = len(R)); it has {len(mat)}")
        if any(self.Q[i * n + j] != self.Q[j * n + i] for i in range(n) for j in range(n)):
            raise ValueError("Q must be symmetric")
        for step in (self.dt, self.ref_dt):
            if step > self.horizon:
                raise ValueError(f"the step {step} is longer than the horizon {self.horizon}")
            if self.horizon / step * self.batch > MAX_STEPS:
                raise ValueError(f"horizon / step x batch = {self.horizon / step * self.batch:.0f} simulated "
                                 f"steps per iteration (at most {MAX_STEPS})")
        passes = 1 + (self.epochs if self.method == "ppo" else 0)
        work = 2 * sum(self.horizon / step for step in (self.dt, self.ref_dt)) * self.batch * self.iterations * passes
        if work > MAX_WORK:
            raise ValueError(f"the run's four trainings simulate and replay {work:.3g} steps (at most {MAX_WORK:.0e}): "
                             f"fewer iterations, a shorter horizon or a smaller batch")
        return self


METRICS = (
    Metric("gap_init", doc="eta* - eta of the initial policy (closed form)"),
    Metric("gap_ct", doc="continuous-time method: eta* - eta after training, at the run's dt"),
    Metric("gap_dt", doc="discrete-time method: eta* - eta after training, at the run's dt"),
    Metric("gap_ct_ref", doc="continuous-time method, same seed, trained at ref_dt"),
    Metric("gap_dt_ref", doc="discrete-time method, same seed, trained at ref_dt"),
    Metric("eta_star", doc="the optimal value eta* (Riccati, closed form)"),
    Metric("riccati_iterations", doc="Newton-Kleinman iterations to 1e-12"),
    Metric("seconds", determinism="none", doc="wall time of the run's four trainings"),
)
SERIES = (Series("gap_ct_curve", x="iteration", doc="continuous-time method's gap per iteration"),
          Series("gap_dt_curve", x="iteration", doc="discrete-time method's gap per iteration"))

register(Kind("analysis", "lq_occupation", LQOccupation, code="engine.control.lq_occupation",
              graph=compute_kind.graph, traits={"metrics": METRICS, "series": SERIES}))
