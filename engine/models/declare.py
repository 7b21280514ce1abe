"""What the model families' declarations share (light: no torch): required run fields,
data and reward fit by modality, and config slices for stage instances.

A data kind declares the modality it `provides`; a model family the modality it `needs`
and the one its samples have (`samples`); a reward the sample modalities it `accepts`.
"""
from __future__ import annotations

from ..registry import ROOMS, kind, kinds, room_value
from ..spec.base import identity_dump


def dump(value):
    return identity_dump(value) if hasattr(value, "model_dump") else value


def config_slice(cfg, keys) -> dict:
    """The fields `keys` of a run config, as content hashes see them."""
    return {k: dump(getattr(cfg, k)) for k in keys}


def run_kinds(cfg) -> tuple[tuple[str, str], ...]:
    """Every (room, kind) a run config names."""
    return tuple((room, room_value(cfg, room).kind) for room in ROOMS if room_value(cfg, room) is not None)


def required(cfg, rooms) -> list[tuple[str, str]]:
    return [(room, f"missing required field '{room}' (model '{cfg.model.kind}' needs it)")
            for room in rooms if room_value(cfg, room) is None]


def diffusion_rules(cfg) -> list[tuple[str, str]]:
    """The rules of a fine-tunable diffusion family: data, sampler, algorithm and reward
    present, and fitting each other."""
    return required(cfg, ("data", "sampler", "algorithm", "reward")) or fit_errors(cfg)


def fit_errors(cfg) -> list[tuple[str, str]]:
    """The run's data must provide what its model needs, and its reward accept the model's samples."""
    model = kind("model", cfg.model.kind)
    provides = kind("data", cfg.data.kind).traits.get("provides")
    if provides != model.traits.get("needs"):
        fitting = [k.name for k in kinds("model") if k.traits.get("needs") == provides]
        hint = f" (data '{cfg.data.kind}' needs model kind: {' or '.join(fitting)})" if fitting else ""
        return [("model.kind", f"model '{cfg.model.kind}' does not fit data '{cfg.data.kind}'{hint}")]
    if cfg.reward is not None:
        samples = model.traits.get("samples")
        if samples not in kind("reward", cfg.reward.kind).traits.get("accepts", ()):
            fitting = [k.name for k in kinds("reward") if samples in k.traits.get("accepts", ())]
            return [("reward.kind", f"reward '{cfg.reward.kind}' does not fit data '{cfg.data.kind}' "
                                    f"(one of: {', '.join(fitting)})")]
    return []


def flow_family_rules(cfg) -> list[tuple[str, str]]:
    """A rectified-flow family's rules: those of a diffusion family, sampled by flow_sde, tuned by a
    policy-gradient algorithm (pairs are for the DDPM families)."""
    errors = diffusion_rules(cfg)
    if errors:
        return errors
    if cfg.sampler.kind != "flow_sde":
        errors.append(("sampler.kind", f"model '{cfg.model.kind}' is a rectified flow, sampled by flow_sde, "
                                       f"not '{cfg.sampler.kind}'"))
    if learns_from_pairs(cfg):
        errors.append(("algorithm.kind", f"model '{cfg.model.kind}' is tuned by a policy-gradient algorithm, "
                                         f"not '{cfg.algorithm.kind}'"))
    return errors


def learns_from_pairs(cfg) -> bool:
    """Whether the run's algorithm learns offline from preference pairs (its `needs` trait)."""
    return cfg.algorithm is not None and kind("algorithm", cfg.algorithm.kind).traits.get("needs") == "pairs"


def image_variant_errors(cfg) -> list[tuple[str, str]]:
    """Images are tuned with DPO and its components: RainbowPO's greedy `rainbow` selection (it needs
    validation runs) and the language-model baselines are not carried over."""
    from ..algorithms.preference_kind import parse_variant
    base, _ = parse_variant(cfg.algorithm.variant)
    if base == "rainbow":
        return [("algorithm.variant", "'rainbow' selects components on validation runs, which image pairs "
                                      "do not have: name the components")]
    if base != "dpo":
        return [("algorithm.variant", f"images are tuned with dpo and its components, not '{base}'")]
    return []


def evaluation_config(cfg) -> dict:
    """The evaluate stage's own config: the evaluation settings without the judge (its own stage)."""
    return {"evaluation": {k: v for k, v in dump(cfg.evaluation).items() if k != "judge"}}
