"""The stage graph of a digits run tuned offline from preference pairs (light: no torch).

data -> pretrain (shared with the policy-gradient runs of the same model), the reward model, the
critic (a third classifier) and the judge -> image_pairs (one job per seed serves every pair source
and variant) -> image_po (the run's variant on its source) -> evaluate (the same evaluation as a
DDPO run, reading the tuned UNet from image_po)."""
from __future__ import annotations

from ..models.declare import config_slice, dump, evaluation_config, image_variant_errors, run_kinds
from ..registry import Node, kind


def nodes(cfg) -> list[Node]:
    uses = run_kinds(cfg)
    pairs = dump(cfg.image_pairs)
    nodes = [Node("data", "data", config_slice(cfg, ("data",)), (), "instance"),
             Node("pretrain", "pretrain", config_slice(cfg, ("model",)), ("data",), "instance"),
             Node("judge", "classifier", {"classifier": dump(cfg.evaluation.judge)}, ("data",), "instance"),
             Node("critic", "classifier", {"classifier": pairs["critic"]}, ("data",), "instance")]
    reward_nodes = kind("reward", cfg.reward.kind).traits.get("nodes", lambda cfg: [])(cfg)
    nodes += reward_nodes
    reward_roles = tuple(n.role for n in reward_nodes)
    pair_cfg = {"image_pairs": {k: v for k, v in pairs.items() if k != "source"}, "sampler": dump(cfg.sampler),
                "seed": cfg.seed}
    nodes.append(Node("pairs", "image_pairs", pair_cfg, ("data", "pretrain", "critic", "judge") + reward_roles,
                      "spec", uses))
    own = config_slice(cfg, ("sampler", "algorithm", "reward", "seed"))
    own["image_pairs"] = {"source": pairs["source"]}
    nodes.append(Node("finetune", "image_po", own, ("pretrain", "pairs") + reward_roles, "spec", uses))
    nodes.append(Node("evaluate", "evaluate", {**evaluation_config(cfg), "trained_by": "image_po"},
                      ("finetune", "judge"), "spec", uses))
    return nodes


def rules(cfg) -> list[tuple[str, str]]:
    """A digits run tuned from pairs: a DPO-family variant (RainbowPO's greedy `rainbow` selection and the
    language-model baselines are not carried over to images); rejection-sampled pairs are reward pairs;
    the critic is neither the reward model nor the judge."""
    from ..algorithms.preference_kind import parse_variant
    errors = image_variant_errors(cfg)
    if errors:
        return errors
    components = parse_variant(cfg.algorithm.variant)[1]
    critic = cfg.image_pairs.critic
    if critic == cfg.evaluation.judge or critic == getattr(cfg.reward, "model", None):
        return [("image_pairs.critic", "the critic must be a third classifier, distinct from the reward model and "
                                       "the judge (else the pairs build in the reward hacking RPO avoids)")]
    if "rejection" in components and cfg.image_pairs.source != "reward":
        return [("image_pairs.source", "the rejection component resamples reward pairs: source must be 'reward'")]
    return []
