"""Preference optimisation of diffusion models (Diffusion-DPO, RPO's critique -> edit -> pairs
pipeline, RainbowPO's components on images): arXiv 2503.11720 and the survey 2409.11564."""
