"""Reward kinds `jpeg_compressibility` (minus the JPEG size in kB, DDPO's reward) and
`jpeg_incompressibility` (plus it): one implementation, two signs."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import Strict


class JpegCompressibility(Strict):
    """DDPO's reward: minus the JPEG-encoded size in kB at a fixed quality."""
    kind: Literal["jpeg_compressibility"]
    quality: int = Field(95, ge=1, le=100)


class JpegIncompressibility(Strict):
    """Plus the JPEG-encoded size in kB."""
    kind: Literal["jpeg_incompressibility"]
    quality: int = Field(95, ge=1, le=100)


IMAGES = {"accepts": ("class_images", "text_images")}
register(Kind("reward", "jpeg_compressibility", JpegCompressibility, code="engine.rewards.jpeg", traits=IMAGES))
register(Kind("reward", "jpeg_incompressibility", JpegIncompressibility, code="engine.rewards.jpeg", traits=IMAGES))
