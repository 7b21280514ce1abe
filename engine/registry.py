"""The registry: the one seam between the core and the science.

The core (spec language, plan, store, CLI, rules, report) knows no model, sampler,
algorithm, reward or paper by name. Every science kind declares itself in a light module
next to its code, `engine/<package>/<name>_kind.py` (pydantic and the standard library only:
the Snakefile and `engine validate` never import torch), by calling `register(...)`:

- `Kind`: a value of a run field that has a `kind` (data, model, sampler, algorithm, reward,
  analysis): its spec model, version, implementation module, validity rules, traits that
  other kinds' rules may ask about, and, for a model family or an analysis, the run graph;
- `Block`: a run field without kinds (the training curve's settings, evaluation settings);
- `StageKind`: what a rule runs: its version, implementation module, and the metrics and
  series it writes (`Metric`, `Series`, with their determinism).

Modules are discovered by file name; `ENGINE_PLUGINS` (comma-separated module names) adds
modules outside the engine, such as a test's toy family. README, "Adding a paper".
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ENGINE_DIR = Path(__file__).resolve().parent
ROOMS = ("data", "model", "sampler", "algorithm", "reward", "analysis")   # run fields holding a `kind`
GRAPH_ROOMS = ("model", "analysis")       # the kinds that say which stage instances a run needs
DETERMINISM = ("exact", "tolerance", "none")


@dataclass(frozen=True)
class Metric:
    """A scalar a stage writes to metrics.json. determinism: "exact" (bitwise on the same
    machine), "tolerance" (|a - b| <= tol), "none" (wall time, throughput: never compared)."""
    name: str
    determinism: str = "exact"
    tol: float = 0.0
    doc: str = ""

    def __post_init__(self):
        if self.determinism not in DETERMINISM:
            raise ValueError(f"metric {self.name}: determinism must be one of {DETERMINISM}")


@dataclass(frozen=True)
class Series:
    """An x/y series a stage writes: `file` is a JSON list of records holding `x` and the
    series' name (the finetune stage's curve.json), or a JSON mapping name -> {"x": [...],
    "y": [...]} (series.json, the compute stage's)."""
    name: str
    x: str
    file: str = "series.json"
    determinism: str = "exact"
    tol: float = 0.0
    doc: str = ""


@dataclass(frozen=True)
class Node:
    """One stage instance a run needs: its role in the run, stage kind, own config (what its
    numbers depend on beyond its upstream results), upstream roles, grouping ("spec": one job
    runs all such instances of a spec; "instance": a job each) and the kinds whose code it
    runs, as (room, kind), beyond those named in its config."""
    role: str
    stage: str
    config: dict
    upstream: tuple[str, ...] = ()
    grouping: str = "spec"
    uses: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Kind:
    room: str
    name: str
    spec: type
    version: int = 1
    code: str | None = None          # implementation module (imports torch; loaded only to run)
    rules: Callable[[Any], list[tuple[str, str]]] | None = None   # run config -> [(field.path, message)]
    traits: dict = field(default_factory=dict)
    graph: Callable[[Any], list[Node]] | None = None               # GRAPH_ROOMS only
    declared_in: str = ""


@dataclass(frozen=True)
class Block:
    """A run field without kinds, with its default (the training curve, evaluation)."""
    name: str
    spec: type
    declared_in: str = ""


@dataclass(frozen=True)
class StageKind:
    name: str
    version: int
    code: str                         # module with run(instance, out_dir, log)
    metrics: Callable[[Any, tuple], list[Metric]] = lambda cfg, roles: []
    series: Callable[[Any, tuple], list[Series]] = lambda cfg, roles: []
    distributed: bool = False         # may run under torchrun (resources.processes > 1)
    grids: Callable[[tuple], tuple] = lambda roles: ()   # sample grids it writes: samples_<which>.png
    declared_in: str = ""


_KINDS: dict[tuple[str, str], Kind] = {}
_BLOCKS: dict[str, Block] = {}
_STAGES: dict[str, StageKind] = {}
_LOADED = False


def register(item):
    """Register a Kind, Block or StageKind (once per name; a module imported twice is fine)."""
    caller = sys._getframe(1).f_globals.get("__name__", "")      # the declaring module
    _DECLARED.clear()
    item = dataclasses.replace(item, declared_in=caller)
    if isinstance(item, Kind):
        if item.room not in ROOMS:
            raise ValueError(f"{item.name}: unknown room {item.room!r} (one of {ROOMS})")
        table, key = _KINDS, (item.room, item.name)
    elif isinstance(item, Block):
        table, key = _BLOCKS, item.name
    elif isinstance(item, StageKind):
        table, key = _STAGES, item.name
    else:
        raise TypeError(f"cannot register {item!r}")
    old = table.get(key)
    if old is not None and old.declared_in != item.declared_in:
        raise ValueError(f"{key} is registered twice: {old.declared_in} and {item.declared_in}")
    table[key] = item
    return item


def declaration_modules() -> list[str]:
    """Every `engine/<package>/*_kind.py`, sorted, plus ENGINE_PLUGINS."""
    mods = sorted(f"engine.{p.parent.name}.{p.stem}" for p in ENGINE_DIR.glob("*/*_kind.py"))
    plugins = [m.strip() for m in os.environ.get("ENGINE_PLUGINS", "").split(",") if m.strip()]
    return mods + plugins


def load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for m in declaration_modules():
        importlib.import_module(m)


def kinds(room: str | None = None) -> list[Kind]:
    load()
    return sorted((k for k in _KINDS.values() if room is None or k.room == room), key=lambda k: (k.room, k.name))


def kind(room: str, name: str) -> Kind:
    load()
    try:
        return _KINDS[(room, name)]
    except KeyError:
        raise KeyError(f"no {room} kind {name!r} is registered") from None


def blocks() -> list[Block]:
    load()
    return list(_BLOCKS.values())


def stages() -> dict[str, StageKind]:
    load()
    return dict(_STAGES)


def stage(name: str) -> StageKind:
    load()
    if name not in _STAGES:
        raise KeyError(f"unknown stage kind {name!r} (one of: {', '.join(sorted(_STAGES))})")
    return _STAGES[name]


def implementation(item):
    """The implementation module of a Kind or StageKind (imports torch where it does)."""
    if not item.code:
        raise KeyError(f"{item.name} has no implementation module")
    return importlib.import_module(item.code)


def room_value(cfg, room: str):
    """A run config's value in `room`, None when empty or when no kind of that room is registered
    (then RunConfig has no such field; read from the instance dict: this is the planner's hot path)."""
    return cfg.__dict__.get(room)


def kinds_of(cfg) -> list[Kind]:
    """The registered kinds a run config names, room by room."""
    out = []
    for room in ROOMS:
        value = room_value(cfg, room)
        if value is not None:
            out.append(kind(room, value.kind))
    return out


def run_graph(cfg) -> list[Node]:
    """The stage instances one run needs, from the kind that owns its graph (model or analysis)."""
    for room in GRAPH_ROOMS:
        value = room_value(cfg, room)
        if value is not None:
            return kind(room, value.kind).graph(cfg)
    raise ValueError(f"a run needs one of: {', '.join(GRAPH_ROOMS)}")


def declared_outputs(cfg, graph: list[Node]) -> tuple[dict, dict]:
    """What a run's stages write: ({metric: (role, Metric)}, {series: (role, Series)}); a name
    written by two stages belongs to the later one.

    Declarations (a stage's `metrics`/`series`, a kind's `metrics`/`series` traits) may depend on
    which kinds a run uses and on its graph's shape, not on other config values: the result is
    computed once per such combination (planning a thousand runs asks a thousand times)."""
    key = (tuple((k.room, k.name) for k in kinds_of(cfg)),
           tuple((n.role, n.stage, tuple(n.upstream)) for n in graph))
    if key not in _DECLARED:
        _DECLARED[key] = _declared_outputs(cfg, graph)
    return _DECLARED[key]


_DECLARED: dict = {}


def _declared_outputs(cfg, graph: list[Node]) -> tuple[dict, dict]:
    metrics, series = {}, {}
    for node in graph:
        st = stage(node.stage)
        metrics.update((m.name, (node.role, m)) for m in st.metrics(cfg, node.upstream))
        series.update((s.name, (node.role, s)) for s in st.series(cfg, node.upstream))
    return metrics, series


def trait(cfg, room: str, name: str, default=None):
    """A trait of the kind a run config names in `room` (None when the room is empty)."""
    value = room_value(cfg, room)
    if value is None:
        return default
    return kind(room, value.kind).traits.get(name, default)
