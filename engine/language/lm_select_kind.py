"""Stage kind `lm_select`: RainbowPO's combination, chosen greedily on validation seeds and prompts
(forward selection from DPO by validation LC win rate); `rainbow` runs train it on fresh seeds."""
from ..registry import Metric, StageKind, register

register(StageKind("lm_select", version=1, code="engine.language.lm_select",
                   metrics=lambda cfg, roles: [
                       Metric("selected", doc="components selected"),
                       Metric("validation_lc", doc="validation LC win rate of the selected combination"),
                       Metric("validation_lc_dpo", doc="validation LC win rate of DPO alone"),
                       Metric("candidates_trained", doc="tuning runs the selection trained")]))
