"""Stage kind `evaluate`: final numbers of a fine-tuned policy against its pretrained start,
and the `evaluation` block of a run. Families with a `judge` upstream add judge metrics; an
algorithm and a model family may add their own (their `metrics` traits: MixGRPO's window
reward, the Gaussian family's distances to the KL-regularised optimum)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from ..registry import Block, Metric, StageKind, register, trait
from ..rewards.classifier_kind import Classifier
from ..spec.base import Strict, neutral


class Evaluation(Strict):
    method: Literal["auto", "exact", "monte_carlo"] = "auto"
    samples: int = Field(100_000, ge=16, le=100_000_000)
    seed: int = Field(12345, ge=0)
    judge: Classifier = Classifier(arch="mlp", width=128, seed=1)   # image families only
    # image families: also the fraction of prompts (classes) whose mean judge log-probability rises
    per_prompt: bool = neutral(False)
    # evaluate the tuned and pretrained policies with this many sampler steps instead of training's
    # (no retraining: a sweep of it shares one finetune); None: the training sampler's
    steps: Optional[int] = neutral(None, ge=1, le=10_000)
    # the ODE sampler's solver (both policies): euler, the sampler's own first-order step (DDIM is Euler in
    # y = x/a over sigma = s/a); heun, second order (2T - 1 model calls; in y over sigma for eps families,
    # in t for rectified flows)
    solver: Literal["euler", "heun"] = neutral("euler")


REWARD = ("reward_ode", "reward_sde", "gap", "improvement", "reward_ode_pretrained", "reward_sde_pretrained",
          "gap_pretrained")
STANDARD_ERRORS = ("reward_ode_se", "reward_sde_se", "gap_se", "reward_ode_pretrained_se", "reward_sde_pretrained_se",
                   "gap_pretrained_se", "improvement_se")
JUDGE = ("judge_accuracy", "judge_accuracy_pretrained", "diversity", "diversity_pretrained")


BASE_METRICS = tuple(Metric(n) for n in REWARD + STANDARD_ERRORS)
# declarations may not depend on config values (registry.declared_outputs), so prompts_improved is
# declared for every judged run and written only where evaluation.per_prompt is set
# written where evaluation.steps or evaluation.solver is set (declared for every run, as prompts_improved)
TRANSFER_METRICS = (
    Metric("improvement_train", doc="the ODE improvement at the training step count and solver (same noises)"),
    Metric("transfer", doc="improvement - improvement_train: how fine-tuning carries over to the evaluated "
                           "step count and solver (0 at training's own)"))
JUDGE_METRICS = tuple(Metric(n) for n in JUDGE) + (
    Metric("prompts_improved", doc="fraction of prompts whose mean judge log p(prompt | x) rises (evaluation.per_prompt)"),
    Metric("samples_improved", doc="fraction of prompt instances (class, fixed noise) whose judge log p rises "
                                   "(evaluation.per_prompt)"))


def metrics(cfg, roles) -> list[Metric]:
    judge = JUDGE_METRICS if "judge" in roles else ()
    family = trait(cfg, "model", "metrics", ())
    return [*BASE_METRICS, *TRANSFER_METRICS, *judge, *trait(cfg, "algorithm", "metrics", ()), *(family(cfg) if callable(family) else family)]


register(Block("evaluation", Evaluation))
def grids(roles) -> tuple[str, ...]:
    """Image families (those with a judge) save ODE samples before and after fine-tuning."""
    return ("finetuned", "pretrained") if "judge" in roles else ()


register(StageKind("evaluate", version=3, code="engine.stages.evaluate", metrics=metrics, grids=grids))
