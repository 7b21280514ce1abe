"""Output stage `index` (the report machinery, engine/report/): its version is part of every
index's key."""
from ..registry import StageKind, register

register(StageKind("index", version=1, code="engine.stages.index"))
