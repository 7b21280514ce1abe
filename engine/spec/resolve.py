"""From spec files to validated runs: `extends:`, scale overlays, sweeps, errors with lines.

Pipeline for one file and scale::

    load_yaml -> resolve extends (deep merge) -> SpecHeader
             -> apply the scale's overlay -> find sweep axes -> cartesian product x seeds
             -> validate each run as RunConfig -> check outputs and claims against the runs
"""
from __future__ import annotations

import copy
import difflib
import itertools
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .. import registry
from ..errors import SpecError, SpecErrors
from . import models as M
from .claims import ContrastClaim, references
from . import versions
from .yamlload import load_yaml

MAX_RUNS = 10_000            # per spec and scale; ENGINE_MAX_RUNS overrides it

# (file, line) for each path of the merged document
Positions = dict[tuple, tuple[str, int]]


@dataclass
class SpecDoc:
    """A spec file after `extends:` merging, before scale selection."""
    name: str
    file: str
    data: dict
    positions: Positions
    header: M.SpecHeader


@dataclass
class Run:
    spec: str
    index: int
    axes: dict[str, Any]          # swept axis path -> value, plus "seed"
    config: Any                   # a RunConfig (engine/spec/models.py)
    graph: list = field(default_factory=list)       # its stage instances (registry.Node)
    metrics: dict = field(default_factory=dict)     # metric name -> (role, registry.Metric)
    series: dict = field(default_factory=dict)      # series name -> (role, registry.Series)

    def field(self, path: str) -> Any:
        if path == "seed":
            return self.config.seed
        value: Any = self.config
        for part in path.split("."):
            value = getattr(value, part)
        return value


@dataclass
class ExpandedSpec:
    doc: SpecDoc
    scale: str
    axes: dict[str, list]         # swept axes in file order, "seed" last
    runs: list[Run] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.doc.name

    @property
    def header(self) -> M.SpecHeader:
        return self.doc.header


# ----------------------------------------------------------------------------- helpers
def _path_str(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _locate(positions: Positions, path: tuple, default_file: str) -> tuple[str, int | None]:
    for n in range(len(path), -1, -1):
        if path[:n] in positions:
            return positions[path[:n]]
    return default_file, None


def _error(positions: Positions, path: tuple, message: str, default_file: str) -> SpecError:
    file, line = _locate(positions, path, default_file)
    return SpecError(file, line, _path_str(path), message)


def did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _deep_merge(base: dict, child: dict) -> dict:
    """Child values win; mappings merge key by key, unless the child picks another `kind`
    (a ddim sampler does not inherit a gddim sampler's fields)."""
    out = copy.deepcopy(base)
    for k, v in child.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and not _other_kind(out[k], v):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _other_kind(base: dict, child: dict) -> bool:
    return "kind" in child and "kind" in base and child["kind"] != base["kind"]


def _positions(located) -> Positions:
    return {p: (located.file, line) for p, line in located.lines.items()}


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- extends
def _load_merged(path: Path, stack: tuple[Path, ...] = (), root: Path | None = None) -> tuple[dict, Positions, str]:
    """`root`: the folder of the spec that started the chain; bases must lie inside it."""
    root = root or path.resolve().parent
    located = load_yaml(path, _display(path))
    data, positions = located.data, _positions(located)
    ext = data.pop("extends", None)
    if ext is None:
        return data, positions, located.file
    line = located.lines.get(("extends",))
    if not isinstance(ext, str) or not ext:
        raise SpecError(located.file, line, "extends", "must be the path of a base spec (a string)")
    base_path = (path.parent / ext)
    if base_path.suffix not in (".yaml", ".yml"):
        raise SpecError(located.file, line, "extends", f"'{ext}' is not a .yaml file")
    resolved = base_path.resolve()
    if Path(ext).is_absolute() or not resolved.is_relative_to(root):
        raise SpecError(located.file, line, "extends",
                        f"'{ext}' points outside the spec's folder {_display(root)}/; a base must be a relative "
                        f"path inside it (no absolute paths, no '..' out of it)")
    chain = stack + (path.resolve(),)
    if resolved in chain:
        cycle = " -> ".join(_display(p) for p in chain + (resolved,))
        raise SpecError(located.file, line, "extends", f"extends cycle: {cycle}")
    if not base_path.is_file():
        raise SpecError(located.file, line, "extends", f"base spec '{ext}' not found (looked at {_display(base_path)})")
    base, base_pos, _ = _load_merged(base_path, chain, root)
    merged = _deep_merge(base, data)
    merged_pos = {p: v for p, v in base_pos.items() if p[:1] != ("extends",)}
    under = _PathIndex(merged_pos)
    # a child's mapping replaces lists/scalars of the base wholesale: drop stale base lines under them
    for p in positions:
        value = _get(data, p)
        replaced = isinstance(value, dict) and isinstance(_get(base, p), dict) and _other_kind(_get(base, p), value)
        if p and (not isinstance(value, dict) or replaced):
            under.drop(merged_pos, p)
    merged_pos.update(positions)
    return merged, merged_pos, located.file


class _PathIndex:
    """Paths by each of their prefixes, so that dropping every path under a prefix costs what it
    drops, not a scan of all paths (validation stays linear in the spec's size)."""

    def __init__(self, paths=()):
        self._under: dict[tuple, list[tuple]] = {}
        for q in paths:
            self.add(q)

    def add(self, q: tuple) -> None:
        for k in range(len(q) + 1):
            self._under.setdefault(q[:k], []).append(q)

    def first_under(self, prefix: tuple):
        return next(iter(self._under.get(prefix, ())), None)

    def drop(self, positions: dict, prefix: tuple) -> None:
        """Delete from `positions` every path under `prefix` (itself included)."""
        for q in self._under.pop(prefix, ()):
            positions.pop(q, None)


def _get(data, path):
    for p in path:
        if isinstance(data, dict) and p in data:
            data = data[p]
        elif isinstance(data, list) and isinstance(p, int) and p < len(data):
            data = data[p]
        else:
            return None
    return data


# ----------------------------------------------------------------------------- pydantic errors
def _unwrap(annotation):
    """Strip Annotated / Optional; return (origin, args, inner)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        args = [_unwrap(a) for a in args]
        if len(args) == 1:
            return args[0]
        return args
    return annotation


def _model_at(root: type[BaseModel], data: Any, path: tuple) -> type[BaseModel] | None:
    """The pydantic model class describing the mapping at `path` (following `kind` and lists)."""
    ann: Any = root
    node = data
    for part in path:
        if isinstance(part, int):                       # an element of list[Model]
            if typing.get_origin(ann) is not list or not isinstance(node, list) or part >= len(node):
                return None
            node = node[part]
            ann = _resolve_union(_unwrap(typing.get_args(ann)[0]), node)
            continue
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        f = ann.model_fields.get(part)
        if f is None or not isinstance(node, dict):
            return None
        node = node.get(part)
        ann = _resolve_union(_unwrap(f.annotation), node)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _resolve_union(ann, node):
    if isinstance(ann, list):  # union of models: pick by kind
        kinds = {}
        for a in ann:
            if isinstance(a, type) and issubclass(a, BaseModel) and "kind" in a.model_fields:
                kinds[typing.get_args(a.model_fields["kind"].annotation)[0]] = a
        if isinstance(node, dict) and node.get("kind") in kinds:
            return kinds[node["kind"]]
        return None
    return ann


def _union_kinds(ann) -> list[str]:
    if isinstance(ann, type) and issubclass(ann, BaseModel) and "kind" in ann.model_fields:
        ann = [ann]
    if not isinstance(ann, list):
        return []
    return [typing.get_args(a.model_fields["kind"].annotation)[0] for a in ann
            if isinstance(a, type) and issubclass(a, BaseModel) and "kind" in a.model_fields]


def _clean_loc(data: Any, loc: tuple) -> tuple:
    """Drop discriminator tags pydantic inserts into error locations."""
    out: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_long", "too_short",
          "string_too_long", "string_too_short", "finite_number"}
_NAME_HELP = ("use only lowercase letters, digits, '_' and '-', at most 64 characters "
              "(names become file names: no '/', '.', spaces)")


def _messages(root: type[BaseModel], data: dict, exc: ValidationError, prefix: tuple = ()) -> list[tuple[tuple, str]]:
    """pydantic errors as (field path, message), typos first: an unknown key that is a typo of a
    missing required one is reported alone, with its did-you-mean."""
    out, typos = [], set()
    for err in exc.errors(include_url=False):
        loc = _clean_loc(data, tuple(err["loc"]))
        typ, msg, value = err["type"], err["msg"], err.get("input")
        if typ == "extra_forbidden":
            parent = _model_at(root, data, loc[:-1])
            options = list(parent.model_fields) if parent else []
            hint = did_you_mean(loc[-1], options)
            msg = f"unknown field '{loc[-1]}'{hint}"
            if hint:
                typos.add(loc[:-1] + (hint.split("'")[1],))
            elif options:
                msg += f" (allowed: {', '.join(options)})"
        elif typ == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag")
            expected = err.get("ctx", {}).get("expected_tags", "")
            loc = loc + ("kind",)
            tags = [t.strip().strip("'") for t in str(expected).split(",")]
            msg = f"unknown kind '{tag}'{did_you_mean(tag, tags)} (expected one of: {expected})"
        elif typ == "union_tag_not_found":
            loc = loc + ("kind",)
            msg = "missing field 'kind'" + (f" (one of: {', '.join(_kinds_at(root, data, loc[:-1]))})"
                                            if _kinds_at(root, data, loc[:-1]) else "")
        elif typ == "missing":
            msg = f"missing required field '{loc[-1]}'"
        elif typ == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif typ in ("model_type", "dict_type", "model_attributes_type"):
            msg = f"must be a mapping, not {_kind_of(value)}"
            kinds = _kinds_at(root, data, loc)
            if isinstance(value, str) and value in kinds:
                msg += f"; write `{loc[-1]}: {{kind: {value}}}`"
            elif kinds:
                msg += f" (a `kind: ...` mapping; kinds: {', '.join(kinds)})"
        elif typ == "literal_error" and loc[-1] == "[key]":          # scales: {smok: ...}
            loc = loc[:-1]
            options = [o.strip().strip("'") for o in err["ctx"]["expected"].replace(" or ", ", ").split(",")]
            msg = f"unknown {loc[-2].rstrip('s')} '{loc[-1]}'{did_you_mean(loc[-1], options)} " \
                  f"(one of: {', '.join(options)})"
        elif typ == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == M.NAME_PATTERN:
            msg = f"'{value!s:.80}' is not a valid name (should match pattern {M.NAME_PATTERN}): {_NAME_HELP}"
        elif typ == "too_short" and loc == ("seeds",):
            msg = "sweep expands to zero runs: `seeds` is empty"
        elif typ in _RANGE:
            msg = msg.replace("Input should be", "must be").replace("String should", "must").replace("List should", "must")
            msg += f" (got {len(value)} characters)" if typ == "string_too_long" else f" (got {value!r:.60})"
        elif typ.endswith("_type") or typ.endswith("_parsing"):
            msg = f"{msg.replace('Input should be', 'must be')} (got {_kind_of(value)} {value!r:.60})"
        out.append((prefix + loc, msg))
    out = [(p, m) for p, m in out if not (m.startswith("missing required field") and p[len(prefix):] in typos)]
    return sorted(out, key=lambda pm: not pm[1].startswith("unknown field"))


def _kinds_at(root, data, loc: tuple) -> list[str]:
    """The `kind`s allowed for the mapping at `loc`, if it is a family."""
    parent = _model_at(root, data, loc[:-1])
    if parent is None or not loc or loc[-1] not in parent.model_fields:
        return []
    return _union_kinds(_unwrap(parent.model_fields[loc[-1]].annotation))


def _kind_of(v: Any) -> str:
    return {list: "a list", dict: "a mapping", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


# ----------------------------------------------------------------------------- loading
def load_spec(path: str | Path) -> SpecDoc:
    """Load, merge `extends:` and validate the header of one spec file."""
    path = Path(path)
    data, positions, file = _load_merged(path)
    unknown = [k for k in data if k not in M.HEADER_FIELDS and k not in M.RUN_FIELDS]
    if unknown:
        k = unknown[0]
        hint = did_you_mean(k, M.HEADER_FIELDS + M.RUN_FIELDS) or f" (allowed: {', '.join(M.HEADER_FIELDS + M.RUN_FIELDS)})"
        raise _error(positions, (k,), f"unknown field '{k}'{hint}", file)
    if "seed" in data:
        raise _error(positions, ("seed",), "use `seeds: [..]` (a list) in a spec; `seed` is set per run", file)
    header_raw = {k: v for k, v in data.items() if k in M.SpecHeader.model_fields}
    outdated = versions.problem(header_raw.get("schema_version", versions.FIRST_VERSION))
    if outdated:
        raise _error(positions, ("schema_version",), outdated, file)
    try:
        header = M.SpecHeader.model_validate(header_raw)
    except ValidationError as e:
        errs = [_error(positions, p, m, file) for p, m in _messages(M.SpecHeader, header_raw, e)]
        raise (errs[0] if len(errs) == 1 else SpecErrors(errs)) from None
    expected_name = path.stem
    if header.name != expected_name:
        raise _error(positions, ("name",), f"name '{header.name}' must match the file name '{expected_name}'", file)
    _check_output_names(header, positions, file)
    return SpecDoc(header.name, file, data, positions, header)


def _check_output_names(header: M.SpecHeader, positions: Positions, file: str) -> None:
    seen: dict[str, tuple] = {}
    for kind in ("tables", "figures"):
        for i, out in enumerate(getattr(header.outputs, kind)):
            path = ("outputs", kind, i, "name")
            if out.name in seen:
                first = _locate(positions, seen[out.name], file)[1]
                raise _error(positions, path, f"duplicate output name '{out.name}' (first used on line {first})", file)
            seen[out.name] = path
    names: dict[str, int] = {}
    for i, c in enumerate(header.claims):
        if c.name in names:
            raise _error(positions, ("claims", i, "name"), f"duplicate claim name '{c.name}'", file)
        names[c.name] = i


# ----------------------------------------------------------------------------- scales, sweeps
def _apply_overlay(doc: SpecDoc, scale: str) -> tuple[dict, Positions, set[tuple]]:
    """The spec's data with the scale's `dotted.path: value` entries set; also returns those paths."""
    data = copy.deepcopy(doc.data)
    overlaid: set[tuple] = set()
    positions = dict(doc.positions)
    overlay = doc.header.scales[scale] or {}
    under, done = _PathIndex(positions), _PathIndex()
    for dotted, value in overlay.items():
        where = ("scales", scale, dotted)
        if not isinstance(dotted, str) or not dotted or any(not p for p in dotted.split(".")):
            raise _error(positions, where, f"overlay key '{dotted}' must be a dotted field path", doc.file)
        parts = tuple(dotted.split("."))
        # an earlier path inside this one, or one this path lies inside (each check by prefix, not a scan)
        clash = done.first_under(parts) or next((parts[:k] for k in range(1, len(parts)) if parts[:k] in overlaid),
                                                None)
        if clash is not None:           # the same field twice, or a field inside one set whole: order would decide
            raise _error(positions, where, f"overlay path '{dotted}' overlaps '{'.'.join(map(str, clash))}' of the same "
                                           f"scale (line {positions.get(('scales', scale, '.'.join(map(str, clash))), (None, '?'))[1]}); "
                                           f"set each field once", doc.file)
        if parts[0] not in M.RUN_FIELDS and parts[0] != "seeds":
            raise _error(positions, where,
                         f"overlay path '{dotted}' does not start with a run field{did_you_mean(parts[0], M.RUN_FIELDS)} "
                         f"(a scale sets run fields ({', '.join(M.RUN_FIELDS[:-1])}) or seeds)", doc.file)
        node = data
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = copy.deepcopy(value)
        line = positions.get(where)
        under.drop(positions, parts)
        if line:
            positions[parts] = line
            under.add(parts)
        overlaid.add(parts)
        done.add(parts)
    return data, positions, overlaid


def _find_axes(cls: type[BaseModel], node: dict, path: tuple, out: list[tuple]) -> None:
    """Lists given where the model expects a scalar (or a list of scalars) are sweep axes."""
    for key, value in node.items():
        f = cls.model_fields.get(key)
        if f is None:
            continue
        ann = _unwrap(f.annotation)
        sub = _resolve_union(ann, value)
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            if isinstance(value, dict):
                _find_axes(sub, value, path + (key,), out)
            continue
        if isinstance(ann, list) and _union_kinds(ann):
            continue  # a union of models without a matching kind: validation reports it
        origin = typing.get_origin(ann)
        if origin in (list, tuple):
            if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
                out.append((path + (key,), value))
        elif origin is dict:
            continue
        elif isinstance(value, list):
            out.append((path + (key,), value))


def run_limit() -> int:
    """The most runs one spec may expand to at one scale: ENGINE_MAX_RUNS, else MAX_RUNS."""
    value = os.environ.get("ENGINE_MAX_RUNS", "")
    if not value:
        return MAX_RUNS
    if not (value.isascii() and value.isdigit()) or int(value) < 1:      # "²".isdigit() is True
        raise SpecError("<environment>", None, "ENGINE_MAX_RUNS", f"must be a positive integer (got {value!r})")
    return int(value)


def expand(doc: SpecDoc, scale: str, max_runs: int | None = None) -> ExpandedSpec:
    """Expand one spec at one scale into validated runs (at most `max_runs`, default run_limit())."""
    limit = max_runs or run_limit()
    if scale not in doc.header.scales:
        raise SpecError(doc.file, None, "scales", f"spec '{doc.name}' does not support scale '{scale}'")
    data, positions, overlaid = _apply_overlay(doc, scale)

    def error(path: tuple, message: str) -> SpecError:
        if any(path[:k] in overlaid for k in range(1, len(path) + 1)):
            message += f" (set by scale '{scale}')"
        return _error(positions, path, message, doc.file)

    seeds = data.get("seeds", doc.header.seeds)
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise error(("seeds",), "must be a list of non-negative integers")
    if not seeds:
        raise error(("seeds",), "sweep expands to zero runs: `seeds` is empty")
    if len(set(seeds)) != len(seeds):
        raise error(("seeds",), "seeds repeat; each seed must be given once")
    run_raw = {k: v for k, v in data.items() if k in M.RUN_FIELDS}
    axes_found: list[tuple] = []
    _find_axes(M.RunConfig, run_raw, (), axes_found)
    axes: dict[str, list] = {}
    for path, values in axes_found:
        if not values:
            raise error(path, "sweep expands to zero runs: empty list")
        axes[_path_str(path)] = values
    total = len(seeds)
    for v in axes.values():
        total *= len(v)
    if total > limit:
        raise error(axes_found[0][0] if axes_found else ("seeds",),
                    f"sweep expands to {total} runs, more than the maximum of {limit} "
                    f"(" + " × ".join(f"{len(v)} {_path_str(p)}" for p, v in axes_found)
                    + f" × {len(seeds)} seeds; the environment variable ENGINE_MAX_RUNS raises the limit)")
    axes["seed"] = list(seeds)
    errors: dict[tuple, SpecError] = {}
    runs: list[Run] = []
    swept = [(tuple(k.split(".")), k) for k in axes if k != "seed"]
    for index, combo in enumerate(itertools.product(*axes.values())):
        raw = dict(run_raw)              # copy only the mappings on swept paths
        for (path, _), value in zip(swept, combo[:-1]):
            node = raw
            for p in path[:-1]:
                node[p] = dict(node[p])
                node = node[p]
            node[path[-1]] = value
        raw["seed"] = combo[-1]
        try:
            cfg = M.RunConfig.model_validate(raw)
        except ValidationError as e:
            for p, m in _messages(M.RunConfig, raw, e):
                p = _point_into_sweep(p, swept, axes, combo, positions)
                errors.setdefault((p, m), error(p, m))
            continue
        combination = M.combination_errors(cfg)
        for dotted, m in combination:
            p = _point_into_sweep(tuple(dotted.split(".")), swept, axes, combo, positions)
            errors.setdefault((p, m), error(p, m))
        if combination:
            continue
        graph = registry.run_graph(cfg)
        metrics, series = registry.declared_outputs(cfg, graph)
        runs.append(Run(doc.name, index, dict(zip(axes.keys(), combo)), cfg, graph, metrics, series))
    if errors:
        errs = sorted(errors.values(), key=lambda e: (e.line or 0, e.path))
        raise errs[0] if len(errs) == 1 else SpecErrors(errs)
    spec = ExpandedSpec(doc, scale, axes, runs)
    _check_outputs(spec, positions)
    return spec


def _point_into_sweep(path, swept, axes, combo, positions):
    """An error in a swept value points at the list element that caused it."""
    for i, (sp, dotted) in enumerate(swept):
        if path[:len(sp)] == sp:
            idx = axes[dotted].index(combo[i]) if combo[i] in axes[dotted] else 0
            if sp + (idx,) in positions:
                return sp + (idx,) + path[len(sp):]
    return path


# ----------------------------------------------------------------------------- outputs, claims
def _field_exists(run: Run, path: str) -> bool:
    try:
        value = run.field(path)
    except AttributeError:
        return False
    return not isinstance(value, BaseModel)


def _leaf_paths(node: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in node.items():
        if isinstance(v, dict):
            out += _leaf_paths(v, f"{prefix}{k}.")
        elif v is not None:
            out.append(prefix + k)
    return out


# the papers' notation for run fields
AXIS_ALIASES = {"lambda": "stochasticity", "T": "steps"}


def _suggest_axis(name: str, options: list[str]) -> str:
    """Did-you-mean for a dotted path: among the fields next to it first, then all of them."""
    parent, _, leaf = name.rpartition(".")
    leaves = [o.rpartition(".")[2] for o in options if o.rpartition(".")[0] == parent]
    if not parent or not leaves:
        return did_you_mean(name, options)
    guess = AXIS_ALIASES.get(leaf) if AXIS_ALIASES.get(leaf) in leaves else None
    close = difflib.get_close_matches(leaf, leaves, n=1, cutoff=0.6)
    if guess or close:
        return f"; did you mean '{parent}.{guess or close[0]}'?"
    return f" ({parent} has: {', '.join(leaves)})"


def _check_axis(spec: ExpandedSpec, positions, where: tuple, name: str, extra=()) -> None:
    """`name` must be a field of the runs (or `seed`); `extra`: other names to suggest (series axes)."""
    if not _field_exists(spec.runs[0], name):
        options = _leaf_paths(spec.runs[0].config.model_dump()) + ["seed"] + list(extra)
        raise _error(positions, where, f"'{name}' is not a field of the runs{_suggest_axis(name, options)} "
                                      f"(swept axes: {', '.join(spec.axes)})", spec.doc.file)


def same_value(a, b) -> bool:
    """A filter value equals a field's value, typed like it: 1 and 1.0 match, true and 1 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def selected(runs, where: dict) -> list:
    return [r for r in runs if all(same_value(r.field(k), v) for k, v in where.items())]


def _declared(runs, what: str) -> set[str]:
    """The metric (or series) names every one of `runs` declares."""
    sets = [set(getattr(r, what)) for r in runs]
    return set.intersection(*sets) if sets else set()


def _check_name(spec, positions, where, name, what: str, runs=None, x: str | None = None) -> None:
    """`name` must be a metric (what="metrics") or series ("series", with x axis `x`) that every
    selected run's stages declare."""
    runs = runs if runs is not None else spec.runs
    known = _declared(runs, what)
    if x is not None:
        known = {n for n in known if all(r.series[n][1].x == x for r in runs)}
    if name not in known:
        noun = "metric" if what == "metrics" else f"series against '{x}'" if x else "series"
        others = _declared(runs, "series" if what == "metrics" else "metrics")
        hint = (f"; '{name}' is a {'series' if what == 'metrics' else 'metric'} of these runs" if name in others
                else did_you_mean(name, known))
        raise _error(positions, where, f"unknown {noun} '{name}'{hint} (the runs' stages write: "
                                      f"{', '.join(sorted(known)) or 'none'})", spec.doc.file)


def _series_axes(spec) -> set[str]:
    """The x axes of the series every run declares (e.g. "epoch")."""
    names = _declared(spec.runs, "series")
    return {spec.runs[0].series[n][1].x for n in names}


def _check_where(spec, positions, base: tuple, where: dict) -> None:
    for k, v in where.items():
        _check_axis(spec, positions, base + ("where", k), k)
        if not any(same_value(r.field(k), v) for r in spec.runs):
            kinds = {type(r.field(k)).__name__ for r in spec.runs}
            typed = (f" ({k} is {'/'.join(sorted(kinds))}: true/false are not numbers, and numbers are not true/false)"
                     if isinstance(v, bool) != all(isinstance(r.field(k), bool) for r in spec.runs) else "")
            raise _error(positions, base + ("where", k), f"no run has {k} = {v!r}{typed}", spec.doc.file)


def _check_outputs(spec: ExpandedSpec, positions: Positions) -> None:
    """Every name an output or claim uses is a run field, or a metric or series that the runs'
    stages declare (engine/registry.py), checked before anything runs."""
    for i, t in enumerate(spec.header.outputs.tables):
        base = ("outputs", "tables", i)
        for j, r in enumerate(t.rows):
            _check_axis(spec, positions, base + ("rows", j), r)
        for j, c in enumerate(t.columns):
            _check_axis(spec, positions, base + ("columns", j), c)
        _check_where(spec, positions, base, t.where)
        for j, m in enumerate(t.metrics):
            _check_name(spec, positions, base + ("metrics", j), m, "metrics", selected(spec.runs, t.where))
    series_x = _series_axes(spec)
    for i, f in enumerate(spec.header.outputs.figures):
        base = ("outputs", "figures", i)
        _check_where(spec, positions, base, f.where)
        runs = selected(spec.runs, f.where)
        if f.plot == "heatmap":
            _check_axis(spec, positions, base + ("x",), f.x)
            _check_axis(spec, positions, base + ("y",), f.y)
            if f.value is None:
                raise _error(positions, base + ("plot",), "a heatmap needs `value:` (the metric its cells show)",
                             spec.doc.file)
            _check_name(spec, positions, base + ("value",), f.value, "metrics", runs)
        elif f.x in series_x:
            _check_name(spec, positions, base + ("y",), f.y, "series", runs, x=f.x)
        else:
            _check_axis(spec, positions, base + ("x",), f.x, extra=sorted(series_x))
            _check_name(spec, positions, base + ("y",), f.y, "metrics", runs)
        for key in ("hue", "panel"):
            if getattr(f, key):
                _check_axis(spec, positions, base + (key,), getattr(f, key))
    for i, c in enumerate(spec.header.claims):
        base = ("claims", i, "check")
        _check_where(spec, positions, ("claims", i), c.where)
        runs = selected(spec.runs, c.where)
        for path, name, what in references(c.check):
            if what == "axis":
                _check_axis(spec, positions, base + path, name)
                values = {repr(r.field(name)) for r in runs}
                need = getattr(c.check, "MIN_AXIS_VALUES", 2)     # a trend over one value is no trend
                if len(values) < need:
                    raise _error(positions, base + path, f"'{name}' takes {len(values)} value"
                                 f"{'' if len(values) == 1 else 's'} ({', '.join(sorted(values))}) in the runs this claim "
                                 f"selects at scale '{spec.scale}': a {c.check.kind} check needs an axis swept over "
                                 f"at least {need} values (swept axes: {', '.join(spec.axes) or 'none'})", spec.doc.file)
                if isinstance(c.check, ContrastClaim):          # its values must be run, and differ
                    run_values = [r.field(name) for r in runs]
                    for field, v in [(("value",), c.check.value),
                                     *((("against", j), a) for j, a in enumerate(c.check.against))]:
                        if v not in run_values:
                            raise _error(positions, base + field, f"{v!r} is not a value of '{name}' in the runs "
                                         f"this claim selects at scale '{spec.scale}' (values: "
                                         f"{', '.join(sorted(values))})", spec.doc.file)
                        if field != ("value",) and v == c.check.value:
                            raise _error(positions, base + field, f"{v!r} is the contrast's own value",
                                         spec.doc.file)
            else:
                _check_name(spec, positions, base + path, name, "metrics" if what == "metric" else "series", runs)


def load_and_expand(path: str | Path, scale: str) -> ExpandedSpec | None:
    """None when the spec does not support `scale`."""
    doc = load_spec(path)
    if scale not in doc.header.scales:
        return None
    return expand(doc, scale)


def validate_file(path: str | Path) -> dict[str, int]:
    """Validate a spec at every scale it supports; return run counts per scale."""
    doc = load_spec(path)
    return {scale: len(expand(doc, scale).runs) for scale in doc.header.scales}
