"""Stage kind `csdm_evaluate`: generated samples of compressed-sensing diffusion against held-out
data (sliced W2), against the same diffusion in full dimension (m = d), with times and speed-ups;
a data kind adds its own statistics (its `sample_metrics` trait: the digits' judge, the stress
tests of returns). Writes a sample grid: held-out, full-dimension and recovered samples."""
from ..registry import Metric, StageKind, register, trait

QUALITY = {"swd": "sliced W2 of the recovered samples to held-out data",
           "swd_full": "sliced W2 of the full-dimension model's samples to held-out data",
           "swd_real": "sliced W2 of as many training points to held-out data (the floor at this sample size)",
           "swd_ratio": "swd / swd_full"}
TIMES = {"train_seconds": "latent training wall time", "train_seconds_full": "full-dimension training wall time",
         "inference_ms": "sampling + recovery, ms per sample", "inference_ms_full": "full-dimension sampling, ms per sample",
         "speedup": "inference_ms_full / inference_ms", "train_speedup": "train_seconds_full / train_seconds"}


def metrics(cfg, roles):
    extra = trait(cfg, "data", "sample_metrics", ())
    return [*(Metric(n, doc=d) for n, d in QUALITY.items()),
            *(Metric(n, determinism="none", doc=d) for n, d in TIMES.items()),
            *(Metric(n, doc=d) for n, d in extra)]


register(StageKind("csdm_evaluate", version=1, code="engine.stages.csdm_evaluate", metrics=metrics,
                   grids=lambda roles: ("generated",)))
