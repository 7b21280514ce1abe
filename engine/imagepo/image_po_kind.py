"""Stage kind `image_po`: offline preference tuning (Diffusion-DPO and RainbowPO's components) of the
pretrained digits UNet on stored image pairs."""
from ..registry import Metric, Series, StageKind, register

register(StageKind("image_po", version=2, code="engine.imagepo.image_po",
                   metrics=lambda cfg, roles: [
                       Metric("final_loss", doc="mean loss, last 10 % of steps"),
                       Metric("train_implicit_acc", doc="implicit reward accuracy on the training minibatches, last 10 %"),
                       Metric("implicit_acc_heldout", doc="implicit reward accuracy on the source's held-out pairs"),
                       Metric("pairs_used", doc="training pairs of the run's source"),
                       Metric("po_seconds", determinism="none", doc="training wall time")],
                   series=lambda cfg, roles: [Series("loss", x="step", doc="the preference loss per step")]))
