"""RPO's instruction parser: a critique (text) becomes edit instructions (arXiv 2503.11720).

A critique is a list of findings separated by ";" or new lines. The digits critic
(engine/imagepo/critic.py) writes four kinds of finding, and each maps to one instruction that
the digits editor (engine/imagepo/editor.py) carries out:

    "resembles 3, not 8"        -> redraw   {target: 8, strong: False}   "redraw it as a clear 8"
    "looks like nothing, not 8" -> redraw   {target: 8, strong: True}
    "too faint"                 -> thicken  {}                            "make the strokes thicker"
    "broken stroke"             -> close    {}                            "join the broken stroke"
    "off-centre by (1, -2)"     -> centre   {dx: -1, dy: 2}               "move it to the centre"

A free-text critique (a vision-language critic at the paper scale) yields a `free` instruction per
sentence that reads as an edit: an imperative ("make the sky bluer", "add a hat"), or a suggestion
("it should ...", "suggestion: ..."), whose text goes to an instruction-based editor
(InstructPix2Pix). Anything else is not an instruction and is dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = ("redraw", "thicken", "close", "centre", "free")
VERBS = ("make", "add", "remove", "change", "replace", "turn", "increase", "decrease", "brighten", "darken",
         "move", "centre", "center", "thicken", "sharpen", "redraw", "join", "fix", "use", "put", "give")

_RESEMBLES = re.compile(r"^(?:resembles|looks like) (?P<seen>\d+|nothing), not (?P<target>\d+)$")
_OFFCENTRE = re.compile(r"^off-?cent(?:re|er) by \((?P<dx>-?\d+), (?P<dy>-?\d+)\)$")
_SUGGESTION = re.compile(r"^(?:suggestion|edit|instruction)\s*:\s*(?P<text>.+)$|^(?:it|the image) should (?P<should>.+)$")


@dataclass(frozen=True)
class Instruction:
    kind: str
    text: str
    args: dict = field(default_factory=dict)


def findings(critique: str) -> list[str]:
    """The critique's findings: its ";"-, line- or sentence-separated parts, trimmed, lower case."""
    parts = re.split(r"[;\n]|(?<=[.!?])\s+", critique)
    return [p.strip().strip(".!").strip().lower() for p in parts if p.strip().strip(".!").strip()]


def parse_finding(finding: str) -> Instruction | None:
    m = _RESEMBLES.match(finding)
    if m:
        target = int(m["target"])
        return Instruction("redraw", f"redraw it as a clear {target}",
                           {"target": target, "strong": m["seen"] == "nothing"})
    if finding == "too faint":
        return Instruction("thicken", "make the strokes thicker")
    if finding == "broken stroke":
        return Instruction("close", "join the broken stroke")
    m = _OFFCENTRE.match(finding)
    if m:
        return Instruction("centre", "move it to the centre", {"dx": -int(m["dx"]), "dy": -int(m["dy"])})
    m = _SUGGESTION.match(finding)
    if m:
        text = (m["text"] or f"make it {m['should']}").strip()
        return Instruction("free", text) if text else None
    if finding.split(" ", 1)[0] in VERBS:
        return Instruction("free", finding)
    return None


def parse(critique: str) -> list[Instruction]:
    """The instructions of a critique, in its order, each kind at most once (the first wins)."""
    out, seen = [], set()
    for f in findings(critique):
        ins = parse_finding(f)
        if ins is not None and (ins.kind == "free" or ins.kind not in seen):
            seen.add(ins.kind)
            out.append(ins)
    return out
