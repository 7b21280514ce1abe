"""Stage kind `pretrain`: DDPM pretraining of the digits UNet."""
from ..registry import StageKind, register

register(StageKind("pretrain", version=1, code="engine.stages.pretrain"))
