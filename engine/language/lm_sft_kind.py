"""Stage kind `lm_sft`: supervised fine-tuning of the pretrained tiny LM on demonstrations of the
task (right answers, some near misses, explained or padded at random)."""
from ..registry import Metric, StageKind, register

register(StageKind("lm_sft", version=1, code="engine.language.lm_sft",
                   metrics=lambda cfg, roles: [Metric("sft_loss", doc="mean response loss per token, last 10 % of steps")]))
