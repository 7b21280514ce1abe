"""Stage kind `sketch`: draw the Gaussian sketch A (m x d, seeded; the identity at m = d) and
store it with the sketched training data A x (compressed-sensing diffusion, model `latent_mlp`)."""
from ..registry import Metric, StageKind, register

register(StageKind("sketch", version=1, code="engine.stages.sketch",
                   metrics=lambda cfg, roles: [Metric("compression", doc="m / d")]))
