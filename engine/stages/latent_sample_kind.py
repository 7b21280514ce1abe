"""Stage kind `latent_sample`: sample latents with the trained score MLP, then recover R^d samples
with FISTA (the LASSO weight chosen on the validation split). It also measures the decoder alone:
FISTA on held-out A x_test against x_test. Times are per sample, medians over chunks."""
from ..registry import Metric, StageKind, register

DECODER = ("decoder_mse", "decoder_mse_p95", "decoder_psnr", "decoder_psnr_p5")


def metrics(cfg, roles):
    return [Metric("lasso_weight", doc="the LASSO weight the validation split chose (0: no recovery, m = d)"),
            *(Metric(n, doc="FISTA on held-out A x_test against x_test (PSNR capped at MSE 1e-10)") for n in DECODER),
            Metric("sample_ms", determinism="none", doc="latent sampling, ms per sample, median over chunks"),
            Metric("recover_ms", determinism="none", doc="FISTA recovery, ms per sample, median over chunks")]


register(StageKind("latent_sample", version=1, code="engine.stages.latent_sample", metrics=metrics))
