"""Data kind `image_pairs_file`: text-to-image preference pairs the user provides as a local file
(the paper scale of Diffusion-DPO: Pick-a-Pic-style pairs). Nothing is downloaded.

The file is JSON Lines, one pair per line:

    {"caption": "a red fox in snow", "chosen": "images/000001_a.jpg", "rejected": "images/000001_b.jpg"}

with image paths relative to the file's own directory (no absolute paths, no '..'), in any format
PIL reads. Optional per-line "chosen_sha256" / "rejected_sha256" pin each image (checked when the
image is read); other keys are ignored. `sha256` pins the file itself (checked before anything is
read). The last `n_heldout` lines are held out: the tuning stage reports their implicit accuracy.

From Pick-a-Pic v2 (yuvalkirstain/pickapic_v2: caption, jpg_0, jpg_1, label_0, label_1), write
each row's two images to files, drop the ties (label_0 = 0.5) and write chosen = the image
labelled 1. `prompts` are the captions the evaluate stage samples (the pairs' captions are read
at run time; content hashes see only the spec).
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import ProjectPath, Strict


class ImagePairsFile(Strict):
    """Preference pairs of images from a local JSON Lines file (module docstring)."""
    kind: Literal["image_pairs_file"]
    path: ProjectPath
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    n_heldout: int = Field(500, ge=1, le=10**7)
    prompts: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(min_length=1, max_length=100_000)


register(Kind("data", "image_pairs_file", ImagePairsFile, code="engine.imagepo.image_pairs_file",
              traits={"provides": "image_pairs"}))
