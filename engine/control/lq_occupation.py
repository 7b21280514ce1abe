"""The `lq_occupation` analysis (engine/control/lq_occupation_kind.py): continuous- against discrete-time
policy optimisation on one LQ problem, at the run's dt and at the reference step."""
from __future__ import annotations

import time

import numpy as np

from . import lq, occupation_pg
from .riccati import newton_kleinman


def compute(a, seed: int, upstream: dict) -> dict:
    t0 = time.perf_counter()
    p = lq.LQProblem.from_config(a)
    _, K_star, iters = newton_kleinman(p.shifted, p.B, p.Q, p.R)
    _, _, eta_star = lq.optimum(p, K_star)
    K0, s0 = np.zeros((p.m, p.n)), np.full(p.m, a.init_logstd)
    gap0 = eta_star - lq.performance(p, K0, s0)
    ct, dt = f"ct_{a.method}", f"dt_{a.method}"
    curves = {}
    for variant in (ct, dt):
        for step in (a.dt, a.ref_dt):
            rng = np.random.default_rng([seed, round(step * 1e9)])   # the same stream for ct and dt
            curves[variant, step] = occupation_pg.train(p, variant, step, a, rng, K0, s0, eta_star)
    its = list(range(a.iterations + 1))
    return {"metrics": {"gap_init": gap0, "gap_ct": curves[ct, a.dt][-1], "gap_dt": curves[dt, a.dt][-1],
                        "gap_ct_ref": curves[ct, a.ref_dt][-1], "gap_dt_ref": curves[dt, a.ref_dt][-1],
                        "eta_star": eta_star, "riccati_iterations": float(iters),
                        "seconds": time.perf_counter() - t0},
            "series": {"gap_ct_curve": {"x": its, "y": curves[ct, a.dt]},
                       "gap_dt_curve": {"x": its, "y": curves[dt, a.dt]}}}
