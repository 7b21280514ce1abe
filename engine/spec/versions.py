"""Versions of the spec language: what changed in each, and what an outdated spec is told.

Bump `models.SCHEMA_VERSION` whenever a spec that validated before would now fail or mean
something else (a field renamed, removed, a default or a meaning changed), add a line to
CHANGES saying what changed and how to update a spec, and update the README's "Schema
versions". Adding an optional field is not a change of version.
"""
from __future__ import annotations

from . import models as M

FIRST_VERSION = 1     # a spec without `schema_version` predates the field: it is read as version 1

CHANGES: dict[int, str] = {
    1: "first versioned spec language (data, model, sampler, algorithm, reward, curve, evaluation, "
       "resources; seeds, scales, outputs, claims)",
}


def problem(version) -> str | None:
    """A message for a spec written for another version, or None when it is current."""
    current = M.SCHEMA_VERSION
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return f"must be a positive integer (the current version is {current})"
    if version == current:
        return None
    if version > current:
        return (f"spec is written for schema version {version}, newer than this engine's version {current}; "
                f"update the engine (git pull) to read it")
    changes = "; ".join(f"v{v}: {CHANGES.get(v, '(not recorded)')}" for v in range(version + 1, current + 1))
    return (f"spec is written for schema version {version}; this engine reads version {current}. "
            f"What changed since: {changes}. Update the spec accordingly and set `schema_version: {current}` "
            f"(README, 'Schema versions')")
