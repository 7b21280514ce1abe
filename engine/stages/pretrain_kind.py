"""Stage kind `pretrain`: pretraining of an image family's UNet (the family's loss: DDPM for
`unet`, rectified flow for `flow_unet`)."""
from ..registry import Metric, StageKind, register

METRICS = (Metric("final_loss", doc="running mean of the last steps' loss"), Metric("steps"), Metric("params"),
           Metric("seconds", determinism="none", doc="wall time of the pretraining"))

register(StageKind("pretrain", version=1, code="engine.stages.pretrain", metrics=lambda cfg, roles: list(METRICS)))
