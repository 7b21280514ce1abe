"""Stage kind `lm_po`: preference tuning of the SFT model with the run's variant (DPO, a baseline,
DPO plus RainbowPO components, or the greedily selected `rainbow` combination)."""
from ..registry import Metric, Series, StageKind, register

register(StageKind("lm_po", version=1, code="engine.language.lm_po",
                   metrics=lambda cfg, roles: [
                       Metric("final_loss", doc="mean loss, last 10 % of steps"),
                       Metric("train_implicit_acc", doc="implicit reward accuracy on the training minibatches, last 10 %"),
                       Metric("pairs_used", doc="pairs the variant trains on"),
                       Metric("components", doc="RainbowPO components in the variant"),
                       Metric("po_seconds", determinism="none", doc="training wall time")],
                   series=lambda cfg, roles: [Series("loss", x="step", doc="the preference loss per step")]))
