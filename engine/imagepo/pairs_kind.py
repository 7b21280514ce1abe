"""Block `image_pairs` and stage kind `image_pairs`: preference pairs of digits images for offline
preference tuning (Diffusion-DPO, RPO; arXiv 2503.11720).

The stage draws `samples` images per prompt instance from the pretrained model with the run's
sampler (`prompts_per_class` instances of each class; noises fixed by the run's seed) and builds
three pair sets from the same images:
- reward: the reward model ranks the K samples of a prompt; the pair is (best, worst) (Diffusion-DPO's
  reward-labelled baseline);
- rejection: RSO: each sample is accepted with probability exp((r - max r) / rejection_beta), then
  best against worst among the accepted (RainbowPO's rejection-sampling component);
- rpo: the critic (a third classifier, `critic`) critiques every image, the parser turns the critique into
  edit instructions, and the editor carries them out: SDEdit toward the prompt at grid level `redraw_level`
  with critic guidance `guidance` first; a redrawn image is critiqued again and its own findings give the
  closing, thickening and centring. (edited, original) is a pair when the critic scores the edit higher
  and its class term log p_critic(c | x) does not fall (so clearing a flagged defect alone cannot buy an
  edit that makes the digit less like its class).
Held-out prompt instances (`heldout_fraction` of them) are drawn once and shared by the three sets, so no
image of a held-out pair is in any training pair. Among training pairs and among held-out pairs the reward
and rpo sets are cut to the same count (the smaller of the two), the rejection set to at most that count
(it keeps a prompt instance only when two of its samples are accepted). `source` (which set a run trains
on; `both` = reward + rpo, twice the count) belongs to the tuning stage, so one pairs job serves every
source.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Block, Metric, StageKind, register
from ..rewards.classifier_kind import Classifier
from ..spec.base import Strict

INSTRUCTIONS = ("redraw", "close", "thicken", "centre")


class ImagePairs(Strict):
    """Preference pairs of an image family's offline preference tuning (algorithm `preference`)."""
    source: Literal["reward", "rpo", "both"] = "reward"
    prompts_per_class: int = Field(32, ge=1, le=100_000)
    samples: int = Field(4, ge=2, le=256)                 # K images per prompt instance
    heldout_fraction: float = Field(0.15, gt=0, lt=1)     # of the prompt instances (at least one)
    rejection_beta: float = Field(0.5, gt=0, le=100)      # RSO temperature, in nats of the reward
    critic: Classifier = Classifier(arch="cnn", width=16, steps=600, seed=2)
    redraw_level: int = Field(4, ge=1, le=1000)           # SDEdit: re-noise to this level of the sampling grid
    guidance: float = Field(0.5, ge=0, le=100)            # critic guidance on each step's x0 prediction
    faint_quantile: float = Field(0.1, gt=0, lt=1)


def metrics(cfg, roles) -> list[Metric]:
    out = [Metric("pairs_each", doc="pairs of the reward and the rpo set each, training + held-out"),
           Metric("pairs_rejection", doc="pairs of the rejection set, training + held-out"),
           Metric("pairs_reward_available", doc="reward pairs before the cut"),
           Metric("pairs_rejection_available", doc="rejection-sampled pairs before the cut"),
           Metric("pairs_rpo_available", doc="accepted edits before the cut"),
           Metric("critiqued_fraction", doc="images with at least one finding"),
           Metric("edited_fraction", doc="images whose edit the critic accepted"),
           Metric("reward_pair_gap", doc="mean reward of chosen minus rejected, reward pairs"),
           Metric("rpo_pair_reward_gap", doc="mean reward of edited minus original, rpo pairs"),
           Metric("rpo_pair_judge_gap", doc="mean judge log p of edited minus original, rpo pairs (reported, not used)"),
           Metric("rpo_pair_critic_gap", doc="mean critic score of edited minus original, rpo pairs")]
    for kind in INSTRUCTIONS:
        out += [Metric(f"{kind}_count", doc=f"images whose critique asks for {kind}"),
                Metric(f"{kind}_accepted", doc=f"the fraction of them that {kind} alone improves (the acceptance rule)"),
                Metric(f"{kind}_critic_gain", doc=f"mean critic score change of {kind} alone on them"),
                Metric(f"{kind}_reward_gain", doc=f"mean reward change of {kind} alone on them (reported, not used)")]
    return out


register(Block("image_pairs", ImagePairs))
register(StageKind("image_pairs", version=2, code="engine.imagepo.pairs", metrics=metrics,
                   grids=lambda roles: ("edits", "reward_pairs")))
