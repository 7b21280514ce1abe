"""JSON Schema of a spec *file*, for editors (yaml-language-server) and `engine schema`.

A file is checked as written, before `extends:` merging, so it may be partial: no field of
a mapping is required and `kind` may be left out, because the file it extends (or a file
that extends it) can give them. What the schema catches is what an editor should underline
while typing: unknown keys at every level, wrong types, values out of range, unknown kinds.
List items (tables, figures, claims) are replaced whole by a merge, so their own required
fields stay required. A scalar (or list) field of a run may also be a non-empty list of
such values: a sweep axis. Completeness and cross-field rules are `engine validate`'s job.

The committed copy is engine/spec.schema.json (`make schema`); a test keeps it current.
"""
from __future__ import annotations

import copy
import json

from . import models as M

SCHEMA_FILE = "engine/spec.schema.json"
_REF = "#/$defs/{model}"
_DROP = ("title", "discriminator")      # pydantic noise; `discriminator` is OpenAPI, not JSON Schema


def _tidy(node):
    """Drop property titles and OpenAPI keywords; oneOf -> anyOf (kind may be absent)."""
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in _DROP and not (k == "title" and "properties" in node):
            continue
        if k == "properties":
            out[k] = {name: _tidy(p) for name, p in v.items()}   # a property may be called "title"
        else:
            out["anyOf" if k == "oneOf" else k] = _tidy(v)
    return out


def _is_value(prop: dict) -> bool:
    """A run field holding a value (not a nested model, not a `kind` tag)."""
    return "$ref" not in prop and "const" not in prop and not (
        "anyOf" in prop and any("$ref" in a for a in prop["anyOf"]))


def _sweepable(prop: dict) -> dict:
    desc = {"description": prop["description"]} if "description" in prop else {}
    default = {"default": prop["default"]} if "default" in prop else {}
    one = {k: v for k, v in prop.items() if k not in ("description", "default")}
    return {**desc, **default, "anyOf": [one, {"type": "array", "items": one, "minItems": 1,
                                               "description": "a sweep axis: one run per value"}]}


def _partial_run_model(schema: dict) -> dict:
    schema = dict(schema)
    schema.pop("required", None)
    schema["properties"] = {k: (_sweepable(v) if _is_value(v) else v) for k, v in schema["properties"].items()}
    return schema


def spec_json_schema() -> dict:
    header = _tidy(M.SpecHeader.model_json_schema(ref_template=_REF))
    run = _tidy(M.RunConfig.model_json_schema(ref_template=_REF))
    header_defs, run_defs = header.pop("$defs", {}), run.pop("$defs", {})
    assert not set(header_defs) & set(run_defs), "a model name is used by both a run and a spec header"
    defs = {name: _partial_run_model(d) for name, d in run_defs.items()}
    defs.update(copy.deepcopy(header_defs))
    defs["Outputs"].pop("required", None)
    props = dict(header["properties"])
    props["schema_version"] = {
        "type": "integer", "minimum": 1, "maximum": M.SCHEMA_VERSION, "default": M.SCHEMA_VERSION,
        "description": f"version of the spec language this file is written for (current: {M.SCHEMA_VERSION}); "
                       f"see the README's 'Schema versions'"}
    props["extends"] = {"type": "string", "pattern": r"\.ya?ml$",
                        "description": "a base spec (path relative to this file), deep-merged under this one"}
    props.update({k: v for k, v in _partial_run_model(run)["properties"].items() if k != "seed"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "experiment spec file",
        "description": __doc__.split("\n\n")[1].replace("\n", " "),
        "type": "object",
        "additionalProperties": False,
        "properties": dict(sorted(props.items())),
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """The schema as committed: sorted keys, so the file only changes when the schema does."""
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
