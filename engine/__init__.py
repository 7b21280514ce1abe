"""A declarative experiment engine for diffusion-model alignment research."""
__version__ = "0.1.0"
