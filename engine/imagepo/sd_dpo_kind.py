"""Stage kind `sd_dpo`: Diffusion-DPO (and RainbowPO's components) of a Stable Diffusion pipeline's
LoRA adapters on image pairs (a user's `image_pairs_file`, or the pairs of an RPO stage), data
parallel under torchrun when resources.processes > 1. The adapter is saved where the
stable_diffusion family's `finetuned` loads it, so the evaluate stage evaluates it
(`trained_by: sd_dpo`)."""
from ..registry import Metric, Series, StageKind, register

register(StageKind("sd_dpo", version=1, code="engine.imagepo.sd_dpo", distributed=True,
                   metrics=lambda cfg, roles: [
                       Metric("final_loss", determinism="tolerance", tol=1e-4, doc="mean loss, last 10 % of steps"),
                       Metric("train_implicit_acc", determinism="tolerance", tol=1e-4,
                              doc="implicit reward accuracy on the training minibatches, last 10 % of steps"),
                       Metric("implicit_acc_heldout", determinism="tolerance", tol=1e-4,
                              doc="implicit reward accuracy on the held-out pairs (8 fixed (t, noise) draws)"),
                       Metric("pairs_used", doc="training pairs"),
                       Metric("po_seconds", determinism="none", doc="training wall time")],
                   series=lambda cfg, roles: [Series("loss", x="step", determinism="tolerance", tol=1e-4,
                                                     doc="the preference loss per step")]))
