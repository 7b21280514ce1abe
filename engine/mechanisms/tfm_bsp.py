"""compute() of the analysis `tfm_bsp` (engine/mechanisms/tfm_bsp_kind.py says what it is and what it
writes). The seed is the only source of randomness: it draws the value profiles of the property check."""
from __future__ import annotations

import numpy as np

from . import bsp, stake_urn


def compute(config, seed: int, upstream: dict) -> dict:
    j_up, j_down = stake_urn.jumps(config.share, config.stake_value)
    u = config.coalition if config.unconfirmed is None else config.unconfirmed
    mech = bsp.Mechanism(config.block, u, config.theta, config.gamma, j_up, j_down)
    grid = bsp.bid_grid(config.tick, config.max_bid)
    rng = np.random.default_rng([seed, 2308_13881])
    gains = {k: 0.0 for k in ("uic", "mic", "mic_static", "scp", "scp_static")}
    violations = {k: 0 for k in ("uic", "mic", "scp")}
    revenue, burn = [], []
    for _ in range(config.profiles):
        vals = grid[rng.integers(0, len(grid), config.users)]
        found = bsp.check_profile(vals, mech, grid, config.coalition, config.fakes)
        for k in gains:
            gains[k] = max(gains[k], found[k])
        for k in violations:
            violations[k] += found[k] > bsp.TOL
        honest = bsp.outcome(list(vals), mech)
        revenue.append(honest["revenue"])
        burn.append(honest["burn"])
    return {"metrics": {
        "uic_gain": gains["uic"], "mic_gain": gains["mic"], "mic_gain_static": gains["mic_static"],
        "scp_gain": gains["scp"], "scp_gain_static": gains["scp_static"],
        "max_gain": max(gains["uic"], gains["mic"], gains["scp"]),
        "uic_violations": float(violations["uic"]), "mic_violations": float(violations["mic"]),
        "scp_violations": float(violations["scp"]),
        "all_hold": float(not any(violations.values())),
        "in_range": float(bsp.in_range(mech, config.tick, config.max_bid, config.coalition)),
        "theta_max": bsp.theta_max(config.gamma, j_up, config.tick),
        "jump_up": j_up, "jump_down": j_down,
        "mean_revenue": float(np.mean(revenue)), "mean_burn": float(np.mean(burn)),
    }, "series": {}}
