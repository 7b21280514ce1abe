"""compute() of the analysis `tfm_stake` (engine/mechanisms/tfm_stake_kind.py says what it is and what it
writes). The seed is the only source of randomness: it draws the initial stake share and the simulation
paths of the long-run run."""
from __future__ import annotations

import numpy as np

from . import stake_urn

PROBE = 1e-9                    # delta = 0- and 0+ on the exact step


def compute(config, seed: int, upstream: dict) -> dict:
    rng = np.random.default_rng([seed, 2308_13881])
    s0 = float(rng.uniform(config.share_low, config.share_high))     # the seed's initial stake share
    lam, d = config.stake_value, config.sim_delta
    j_up, j_down = stake_urn.jumps(s0, lam)
    deltas = sorted(set(config.deltas) | {0.0, d, -d})
    paths = stake_urn.simulate(s0, config.pool, config.reward, config.spread, deltas, config.horizon, config.paths, rng)
    row = {x: paths[i] for i, x in enumerate(deltas)}
    honest, up, down = row[0.0], row[d], row[-d]
    se = lambda x: float(x.std(ddof=1) / np.sqrt(len(x)))          # noqa: E731
    step_x = sorted(set(deltas) | {-PROBE, PROBE})
    fluid = stake_urn.fluid_share(np.array(deltas), s0, config.pool, config.reward, config.horizon)
    u0 = float(stake_urn.long_run_utility(0.0, s0, lam))
    return {"metrics": {
        "share0": s0,
        "utility_left": float(stake_urn.long_run_utility(-PROBE, s0, lam)),
        "utility_zero": u0,
        "utility_right": float(stake_urn.long_run_utility(PROBE, s0, lam)),
        "jump_up": j_up, "jump_down": j_down,
        "sim_share": float(honest.mean()), "sim_se": se(honest),
        "martingale_dev": abs(float(honest.mean()) - s0),
        "sim_gap_up": float((up - honest).mean()), "sim_gap_down": float((honest - down).mean()),
        "sim_gap_se": se(up - honest),
        "fluid_gap_up": float(stake_urn.fluid_share(d, s0, config.pool, config.reward, config.horizon)) - s0,
    }, "series": {
        "long_run_utility": {"x": step_x, "y": [float(v) for v in stake_urn.long_run_utility(step_x, s0, lam)]},
        "fluid_utility": {"x": deltas, "y": [lam * float(v) for v in fluid]},
        "sim_utility": {"x": deltas, "y": [lam * float(paths[i].mean()) for i in range(len(deltas))]},
    }}
