"""Stage kind `lm_hub_po`: preference tuning of a hub causal LM from a pairs file (RainbowPO's
paper scale), data parallel under torchrun when resources.processes > 1."""
from ..registry import Metric, StageKind, register

register(StageKind("lm_hub_po", version=2, code="engine.language.lm_hub_po", distributed=True,
                   metrics=lambda cfg, roles: [
                       Metric("final_loss", tol=1e-4, determinism="tolerance", doc="mean loss, last 10 % of steps"),
                       Metric("train_implicit_acc", tol=1e-4, determinism="tolerance"),
                       Metric("heldout_implicit_acc", tol=1e-4, determinism="tolerance",
                              doc="implicit reward accuracy on the held-out pairs"),
                       Metric("pairs_used", doc="training pairs within max_length"),
                       Metric("po_seconds", determinism="none")]))
