"""Output stage `figure` (the report machinery, engine/report/): its version is part of every
figure's key."""
from ..registry import StageKind, register

register(StageKind("figure", version=1, code="engine.stages.figure"))
