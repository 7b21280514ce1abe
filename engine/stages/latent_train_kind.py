"""Stage kind `latent_train`: train the score MLP of compressed-sensing diffusion on the sketched
data (denoising score matching). Its wall time is a metric, declared not deterministic."""
from ..registry import Metric, StageKind, register

register(StageKind("latent_train", version=1, code="engine.stages.latent_train",
                   metrics=lambda cfg, roles: [Metric("final_loss", doc="mean DSM loss of the last 10 % of steps"),
                                               Metric("train_seconds", determinism="none")]))
