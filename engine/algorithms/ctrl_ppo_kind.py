"""Algorithm kind `ctrl_ppo`: continuous-time RL fine-tuning (arXiv 2409.08400, 2502.01819), the score as
the action: PPO-clip on the sampler's Gaussian transitions with per-step advantages from a value network
V(x_t, t) (TD or GAE over the chain's levels), the shared KL regulariser as a per-step cost, and the value
net in the checkpoint. `critic: none` is DDPO itself (the papers' discrete-time baseline, same settings)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, Metric, register
from .ddpo_kind import DDPOAlgorithm, rules as ddpo_rules


class CtrlPPOAlgorithm(DDPOAlgorithm):
    """ctrl-PPO: PPO-clip with a value network's per-step advantages (critic none: DDPO)."""
    kind: Literal["ctrl_ppo"]
    # structured: V = cos(pi t/2) r(x0_hat) + sin(pi t/2) NN(x_t, t) (the papers'); plain: V = NN(x_t, t)
    # (their ablation); none: no critic, DDPO's advantages (the baseline, at the same settings)
    critic: Literal["structured", "plain", "none"] = "structured"
    # GAE over the chain's levels, no discount, terminal reward: 0 is TD(0), A_k = V(x_k) - V(x_{k+1})
    # (the authors' SD 1.5 code), 1 the Monte Carlo return minus V(x_{k+1})
    gae_lambda: float = Field(0.0, ge=0, le=1)
    value_lr: float = Field(1e-3, gt=0, le=10)
    value_hidden: int = Field(64, ge=4, le=4096)
    value_updates: int = Field(50, ge=1, le=100_000)   # Adam steps on the value net per epoch, before the policy's
    value_batch: int = Field(256, ge=1, le=1_000_000)  # (state, return) pairs a value step regresses on


# Where the survey arXiv 2409.11564v2 places it (README, "Algorithm catalogue"): PPO with a learned critic is
# online alignment (§4), on §4.5.1's diffusion MDP; the continuous-time papers are not in the survey.
TAXONOMY = {"online": True,
            "feedback": "reward model (a scalar per sample) and a learned value network",
            "policy": "on-policy (PPO-clip on the current policy's chains, per-step critic advantages)",
            "modality": ("vision: digits UNet", "vision-text: SD 1.5", "other: Gaussian vectors"),
            "section": "§4 Online Alignment (PPO with a critic) on §4.5.1's diffusion MDP; the continuous-time "
                       "formulation (arXiv 2409.08400 / 2502.01819) is not in the survey"}

register(Kind("algorithm", "ctrl_ppo", CtrlPPOAlgorithm, code="engine.algorithms.ctrl_ppo", rules=ddpo_rules,
              traits={"needs": "chains", "taxonomy": TAXONOMY,
                      "train_metrics": (
                          Metric("reward_queries_per_epoch",
                                 doc="terminal reward queries per epoch (chains); the structured critic also "
                                     "scores the denoised estimate x0_hat of every trained state"),)}))
