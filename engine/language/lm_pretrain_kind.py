"""Stage kind `lm_pretrain`: the tiny causal LM and its character tokenizer, pretrained on the task's
format (engine/language/lm.py); shared by every run of the same data, architecture and settings."""
from ..registry import Metric, StageKind, register

register(StageKind("lm_pretrain", version=1, code="engine.language.lm_pretrain",
                   metrics=lambda cfg, roles: [Metric("pretrain_loss", doc="mean loss per token, last 10 % of steps"),
                                               Metric("params", doc="parameters of the model")]))
