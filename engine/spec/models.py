"""The spec language: one run's configuration and a spec file, as pydantic models.

A *spec file* may hold lists where a scalar is expected (sweep axes) and scale overlays;
after expansion every run is validated as a `RunConfig`. The run fields that hold a `kind`
(data, model, sampler, algorithm, reward, analysis) are unions of the kinds registered in
engine/registry.py, built here; this module names none of them. Every model forbids
unknown keys.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, create_model

from .. import registry
from .base import NAME_PATTERN, SCALES, SCHEMA_VERSION, Name, Scalar, Scale, Strict, neutral  # noqa: F401
from .claims import Claim


class Resources(Strict):
    """Scheduling hints; never hashed. Snakemake's local scheduler and the SLURM profile
    read them per job (threads = CPUs of the whole job, all its processes together)."""
    threads: int = Field(2, ge=1, le=256)
    mem_mb: int = Field(2000, ge=100)
    gpus: int = Field(0, ge=0, le=64)
    runtime_min: int = Field(30, ge=1)         # time limit of the job (a batched job: the largest)
    # training processes (torchrun, data parallel): the numbers agree with 1 process up to float
    # reduction order (README, "Cluster"); only the finetune stage uses more than one
    processes: int = Field(1, ge=1, le=64)
    # save a resume checkpoint every this many training epochs (0: never); numbers do not depend on it
    checkpoint_every: int = Field(25, ge=0, le=1_000_000)


# ----------------------------------------------------------------------------- outputs
class TableOutput(Strict):
    name: Name
    caption: str = Field("", max_length=2000)
    rows: list[str] = Field(min_length=1)
    columns: list[str] = []
    metrics: list[str] = Field(min_length=1)
    where: dict[str, Scalar] = {}
    precision: int = Field(3, ge=0, le=10)


class FigureOutput(Strict):
    """line/step: y (a metric, mean ± std over seeds) against a run field x, or a series y
    against its own x (a training curve against `epoch`); step draws a staircase, for
    discontinuities. heatmap: the metric `value` over two run fields x and y. xscale/yscale "log"
    draw a line or step plot on logarithmic axes (values spanning decades: a time step, a gap)."""
    name: Name
    caption: str = Field("", max_length=2000)
    x: str
    y: str
    hue: str | None = None
    panel: str | None = None
    where: dict[str, Scalar] = {}
    plot: Literal["line", "step", "heatmap"] = neutral("line")
    value: str | None = neutral(None)
    xscale: Literal["linear", "log"] = neutral("linear")
    yscale: Literal["linear", "log"] = neutral("linear")


class Outputs(Strict):
    tables: list[TableOutput] = []
    figures: list[FigureOutput] = []


# ----------------------------------------------------------------------------- a run, a spec
def _union(members: list[type]):
    members = sorted(members, key=lambda m: m.model_fields["kind"].annotation.__args__[0])
    if len(members) == 1:
        return members[0]
    return Annotated[Union[tuple(members)], Field(discriminator="kind")]


@lru_cache(maxsize=None)
def run_model() -> type[Strict]:
    """RunConfig: the registered rooms (each optional: a family's rules say which it needs),
    the registered blocks, resources and the seed."""
    fields: dict[str, Any] = {}
    for room in registry.ROOMS:
        members = [k.spec for k in registry.kinds(room)]
        if members:
            fields[room] = (Optional[_union(members)], None)
    for block in sorted(registry.blocks(), key=lambda b: b.name):
        fields[block.name] = (block.spec, block.spec())
    fields["resources"] = (Resources, Resources())
    fields["seed"] = (int, Field(0, ge=0, le=2**31 - 1))
    return create_model("RunConfig", __base__=Strict, __doc__="Everything one run needs; the stage configs "
                        "are slices of it.", **fields)


RunConfig = run_model()


class SpecHeader(Strict):
    """Fields of a spec file that are not part of a run."""
    schema_version: int = SCHEMA_VERSION
    name: Name
    title: str = Field("", max_length=300)
    description: str = Field("", max_length=5000)
    paper: str = Field("", max_length=200)
    miniature: str = Field("", max_length=3000)     # "miniature vs paper": what differs from the published setting
    scales: dict[Scale, dict[str, Any]] = Field(min_length=1)
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] = Field([0], min_length=1, max_length=10_000)
    outputs: Outputs = Outputs()
    claims: list[Claim] = []


def combination_errors(cfg) -> list[tuple[str, str]]:
    """Impossible combinations of otherwise valid fields, as (field.path, message): a run needs
    one graph owner (a model family or an analysis), then every kind it names checks its rules."""
    owners = [room for room in registry.GRAPH_ROOMS if registry.room_value(cfg, room) is not None]
    if len(owners) != 1:
        what = " and ".join(owners) if owners else "neither"
        return [(owners[-1] if owners else registry.GRAPH_ROOMS[0],
                 f"a run needs exactly one of {' or '.join(registry.GRAPH_ROOMS)} (it has {what})")]
    errors = []
    for k in registry.kinds_of(cfg):
        if k.rules is not None:
            errors += k.rules(cfg)
    n = cfg.resources.processes
    if n > 1 and cfg.resources.gpus and n > cfg.resources.gpus:
        errors.append(("resources.processes", f"{n} processes need at least {n} GPUs (resources.gpus is "
                                              f"{cfg.resources.gpus})"))
    return errors


RUN_FIELDS = tuple(RunConfig.model_fields)
HEADER_FIELDS = tuple(SpecHeader.model_fields) + ("extends",)
