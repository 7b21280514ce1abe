"""The spec language's building blocks, shared by the core and every registered kind.

Every model forbids unknown keys and coercion. `neutral(default)` marks a field that was
added after results existed: at its default it is left out of content hashes, so an old
spec keeps its hashes (README, "Code and config identity").
"""
from __future__ import annotations

import re
import typing
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1
NAME_PATTERN = r"^[a-z0-9_-]+$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=64)]
Scale = Literal["smoke", "default", "paper"]
SCALES: tuple[str, ...] = ("smoke", "default", "paper")
Scalar = Union[int, float, str, bool]
NEUTRAL = "x-neutral-default"


class Strict(BaseModel):
    """No unknown keys, no coercion (`true` is not 1, "5" is not 5), no NaN or infinity."""
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def neutral(default: Any, **kwargs) -> Any:
    """A field whose default reproduces the behaviour from before it existed: left out of
    identity dumps (hashes) while it holds that default."""
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra[NEUTRAL] = True
    return Field(default, json_schema_extra=extra, **kwargs)


@lru_cache(maxsize=None)
def _has_neutral(cls) -> bool:
    """Whether a model class, or a model inside its fields, has a neutral field."""
    def inside(ann) -> bool:
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return _has_neutral(ann)
        return any(inside(a) for a in typing.get_args(ann))
    for info in cls.model_fields.values():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get(NEUTRAL) or inside(info.annotation):
            return True
    return False


def identity_dump(value: Any) -> Any:
    """`model_dump(mode="json")` without neutral fields at their defaults (recursively): what
    content hashes see. Models without neutral fields take pydantic's own dump (planning hot path)."""
    if isinstance(value, BaseModel) and not _has_neutral(type(value)):
        return value.model_dump(mode="json")
    if isinstance(value, BaseModel):
        out = {}
        fields = type(value).model_fields
        for name, info in fields.items():
            v = getattr(value, name)
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if extra.get(NEUTRAL) and v == info.default:
                continue
            out[name] = identity_dump(v)
        return out
    if isinstance(value, (list, tuple)):
        return [identity_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: identity_dump(v) for k, v in value.items()}
    return value


HUB_REVISION = r"^[A-Za-z0-9_.\-/]+$"


def project_relative(v: str) -> str:
    """A file the user provides inside the project: a relative path without '..' (a validator)."""
    parts = v.replace("\\", "/").split("/")
    if v.startswith(("/", "~")) or ".." in parts or ":" in v:
        raise ValueError("path must be relative to the project, without '..'")
    return v


ProjectPath = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(project_relative)]


class Pretrained(Strict):
    """A pretrained model: a hub id (pinned to a commit with checksums by `engine fetch-models`
    in specs/models.lock.json) or a local directory (a path that exists or starts with / ./ ../ ~)."""
    id: str = Field(min_length=1, max_length=300)
    revision: str = Field("main", min_length=1, max_length=100, pattern=HUB_REVISION)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.~/\-]+", v):
            raise ValueError(f"'{v}' is neither a hub id (org/name) nor a path (letters, digits, _ . - / ~)")
        return v
