"""Output stage `table` (the report machinery, engine/report/): its version is part of every
table's key."""
from ..registry import StageKind, register

register(StageKind("table", version=1, code="engine.stages.table"))
