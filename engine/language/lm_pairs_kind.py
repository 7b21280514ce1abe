"""Stage kind `lm_pairs`: preference pairs from K samples of the SFT model per pair prompt, labelled
by the length-biased training judge; plain and rejection-sampled (RSO) sets."""
from ..registry import Metric, StageKind, register

register(StageKind("lm_pairs", version=1, code="engine.language.lm_pairs",
                   metrics=lambda cfg, roles: [
                       Metric("pairs_plain", doc="plain pairs (best vs worst of K; ties skipped)"),
                       Metric("pairs_rejection", doc="rejection-sampled pairs"),
                       Metric("chosen_longer", doc="plain pairs whose chosen answer is longer"),
                       Metric("chosen_correct", doc="plain pairs whose chosen answer is correct"),
                       Metric("sample_accuracy", doc="accuracy of the SFT samples"),
                       Metric("sample_length", doc="mean length of the SFT samples (characters)")]))
