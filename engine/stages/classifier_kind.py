"""Stage kind `classifier`: train a digit classifier (a reward model or a judge)."""
from ..registry import Metric, StageKind, register

register(StageKind("classifier", version=1, code="engine.stages.classifier",
                   metrics=lambda cfg, roles: [Metric("heldout_accuracy")]))
