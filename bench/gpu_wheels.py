"""Fetch the wheels bench/gpu_check.py needs on the GPU machine (README, "GPU check").

That machine has Python 3.12 on x86-64, its own torch and no package registry (the device library's
KINDS.md lists what it holds: no diffusers or pydantic, other versions of transformers and
huggingface_hub). This downloads, into .whl/ (ignored by git; the device call carries it), the wheels of
the packages below at the versions requirements.lock pins: the engine's model, spec and hub stack and what
they need beyond that machine's packages. Not snakemake, dvc or torch.

    python bench/gpu_wheels.py            # or: make gpu-wheels
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
DEST = ROOT / ".whl"
PYTHON = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
PACKAGES = (
    # what the issue names
    "diffusers", "transformers", "peft", "pydantic", "safetensors", "tokenizers",
    # what they need at these versions
    "pydantic_core", "annotated-types", "typing-inspection", "typing_extensions", "huggingface_hub", "hf-xet",
    "httpx2", "httpcore2", "truststore", "h11", "idna", "anyio", "click", "typer", "shellingham", "rich",
    "annotated-doc", "accelerate", "importlib_metadata", "zipp", "lazy-importer", "regex", "filelock", "fsspec",
    "tqdm", "packaging",
)


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path = LOCK) -> list[str]:
    """name==version for every package above, from the lock file (each pinned exactly once)."""
    found: dict[str, list[str]] = {}
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if m:
            found.setdefault(normal(m.group(1)), []).append(f"{m.group(1)}=={m.group(2)}")
    missing = [p for p in PACKAGES if len(found.get(normal(p), [])) != 1]
    if missing:
        raise SystemExit(f"{lock}: not pinned exactly once: {', '.join(missing)}")
    return [found[normal(p)][0] for p in PACKAGES]


def main() -> int:
    DEST.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp", "-d", str(DEST)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    pinned = pins()
    subprocess.run(cmd + pinned, check=True)
    wheels = sorted(DEST.glob("*.whl"))
    prefixes = tuple(normal(name).replace("-", "_") + "-" + version.lower()       # wheel file names' start
                     for name, version in (p.split("==") for p in pinned))
    stale = [w for w in wheels if not w.name.lower().startswith(prefixes)]
    for w in stale:                    # an older version left from an earlier lock: two stop the install there
        w.unlink()
    size = sum(w.stat().st_size for w in DEST.glob("*.whl"))
    print(f"{len(wheels) - len(stale)} wheels in {DEST.relative_to(ROOT)}/, {size / 2 ** 20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
