"""Reading and writing an `image_pairs_file` (the format: image_pairs_file_kind.py), checked.

`read` checks the file's sha256 (when given) and every line's form before returning anything;
`load_images` checks each image's sha256 (when its line gives one) as it reads it, so a pairs set
of a million images is not hashed up front. The RPO pairs stage writes the same format, with
every image pinned (`write`).
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import EngineError
from ..spec.base import project_relative
from ..store import sha256_file


@dataclass(frozen=True)
class ImagePair:
    caption: str
    chosen: Path
    rejected: Path
    chosen_sha256: str | None = None
    rejected_sha256: str | None = None


def _image_path(base: Path, value, where: str) -> Path:
    if not isinstance(value, str):
        raise EngineError(f"{where}: an image path must be a string, not {type(value).__name__}")
    try:
        return base / project_relative(value)
    except ValueError as e:
        raise EngineError(f"{where}: image path '{value}' must be relative to the pairs file, without '..'") from e


def _digest(value, where: str) -> str | None:
    if value is None:
        return None
    if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
        raise EngineError(f"{where}: a sha256 must be 64 lower-case hex digits")
    return value


def read_file(path: Path, n_heldout: int, sha256: str | None = None) -> tuple[list[ImagePair], list[ImagePair]]:
    """(training pairs, held-out pairs): the last `n_heldout` lines are held out."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"pairs file {path} not found (the paper scale reads pairs the user provides; "
                          f"engine/imagepo/image_pairs_file_kind.py describes the format)")
    if sha256 and sha256_file(path) != sha256:
        raise EngineError(f"pairs file {path} does not match the sha256 its spec states")
    pairs = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{i}"
        try:
            row = json.loads(line)
            caption, chosen, rejected = row["caption"], row["chosen"], row["rejected"]
        except (ValueError, KeyError, TypeError) as e:
            raise EngineError(f"{where}: not a {{caption, chosen, rejected}} object ({e})") from e
        if not isinstance(caption, str):
            raise EngineError(f"{where}: caption must be a string")
        base = path.parent
        pairs.append(ImagePair(caption, _image_path(base, chosen, where), _image_path(base, rejected, where),
                               _digest(row.get("chosen_sha256"), where), _digest(row.get("rejected_sha256"), where)))
    if len(pairs) <= n_heldout:
        raise EngineError(f"{path}: {len(pairs)} pairs, not more than the {n_heldout} held out")
    return pairs[:-n_heldout], pairs[-n_heldout:]


def read(data: dict) -> tuple[list[ImagePair], list[ImagePair]]:
    """The pairs of an `image_pairs_file` data block (a dict)."""
    return read_file(Path(data["path"]), data["n_heldout"], data.get("sha256"))


def load_image(path: Path, sha256: str | None, resolution: int) -> torch.Tensor:
    """[3, R, R] in [-1, 1]: the image (its sha256 checked when given), shorter side resized to R
    (bicubic), centre-cropped."""
    from PIL import Image
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EngineError(f"image {path} could not be read ({e})") from e
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise EngineError(f"image {path} does not match the sha256 its pairs file states")
    try:
        img = Image.open(io.BytesIO(data)).convert("RGB")
    except Exception as e:                  # PIL raises many kinds on a damaged file
        raise EngineError(f"image {path} is not an image PIL can read ({type(e).__name__}: {e})") from e
    scale = resolution / min(img.size)
    w, h = max(resolution, round(img.width * scale)), max(resolution, round(img.height * scale))
    img = img.resize((w, h), Image.Resampling.BICUBIC)
    left, top = (w - resolution) // 2, (h - resolution) // 2
    img = img.crop((left, top, left + resolution, top + resolution))
    x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(resolution, resolution, 3)
    return x.permute(2, 0, 1).float() / 127.5 - 1


def load_images(pairs: list[ImagePair], resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(chosen, rejected), each [B, 3, R, R] in [-1, 1]."""
    chosen = torch.stack([load_image(p.chosen, p.chosen_sha256, resolution) for p in pairs])
    rejected = torch.stack([load_image(p.rejected, p.rejected_sha256, resolution) for p in pairs])
    return chosen, rejected


def save_png(img: torch.Tensor, path: Path) -> str:
    """Write [3, H, W] in [-1, 1] as a PNG; return its sha256."""
    from PIL import Image
    arr = ((img.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(arr.numpy(), mode="RGB").save(buf, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def write(path: Path, rows: list[dict]) -> None:
    """A pairs file of rows {caption, chosen, rejected, chosen_sha256, rejected_sha256, ...}."""
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
