"""Compressed sensing for the latent-diffusion papers (arXiv 2509.03898): the Gaussian sketch,
orthonormal bases, FISTA recovery, distributional distances and the risk measures of stress tests.
Pure torch; no engine imports."""
