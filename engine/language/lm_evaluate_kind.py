"""Stage kind `lm_evaluate`: the tuned policy against the SFT model on the test prompts, judged by the
length-controlled evaluation judge (AlpacaEval LC style)."""
from ..registry import Metric, StageKind, register

register(StageKind("lm_evaluate", version=1, code="engine.language.lm_evaluate",
                   metrics=lambda cfg, roles: [
                       Metric("lc_win_rate", doc="length-controlled win rate against the SFT model"),
                       Metric("win_rate", doc="raw win rate against the SFT model"),
                       Metric("length_coef", doc="the judge GLM's length coefficient"),
                       Metric("mean_length", doc="mean answer length (characters)"),
                       Metric("accuracy", doc="fraction of correct answers"),
                       Metric("ref_length", doc="the SFT model's mean answer length"),
                       Metric("ref_accuracy", doc="the SFT model's accuracy")],
                   grids=lambda roles: ("answers",)))
