"""Stage kind `data`: materialise a data set that has files (the digits split)."""
from ..registry import StageKind, register

register(StageKind("data", version=1, code="engine.stages.data"))
