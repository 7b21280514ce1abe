"""No injection, no unpickling.

Shell metacharacters in every free-text field of a spec stay data through the whole smoke
workflow: no rule's shell command contains spec text (rules pass hashes and keys only),
nothing runs, and the text lands in the outputs escaped for each format. The engine's
sources load nothing with pickle: no torch.load without weights_only=True, no pickle module,
no yaml.load, no shell=True.
"""
import json
import re
from pathlib import Path

import pytest

from .conftest import FIXTURE_SPECS, ROOT, copy_project, snakemake


def payload(c: str, label: str) -> str:
    """Text that would create file `c` if any shell ever interpreted it (shells run in the project)."""
    return (f"{label}; touch {c}; $(touch {c}) `touch {c}` && touch {c} | tee {c} > {c} "
            f"'single' \"double\" \\ back <b>html</b> & 50% #hash {{brace}} ~^_ $x$")


def spec(canary: str) -> tuple[str, dict[str, str]]:
    texts = {
        "title": payload(canary, "T"),
        "description": payload(canary, "D") + "\n" + payload(canary, "D2") + "\n\n# not a heading",
        "paper": payload(canary, "P"),
        "table caption": payload(canary, "TC"),
        "figure caption": payload(canary, "FC"),
        "claim text": payload(canary, "C"),
    }
    q = {k: json.dumps(v) for k, v in texts.items()}       # a JSON string is a YAML double-quoted scalar
    text = f"""name: injected
extends: base/gaussian.yaml
title: {q['title']}
description: {q['description']}
paper: {q['paper']}
model: {{kind: gaussian_score, process: {{kind: vp}}}}
sampler: {{kind: gddim, steps: 10, stochasticity: [1, 2]}}
algorithm: {{epochs: 4, batch_size: 32}}
curve: {{every: 2}}
seeds: [0]
scales: {{smoke: {{}}}}
outputs:
  tables:
    - {{name: injected_table, caption: {q['table caption']}, rows: [sampler.stochasticity], metrics: [gap]}}
  figures:
    - {{name: injected_curve, caption: {q['figure caption']}, x: epoch, y: gap, hue: sampler.stochasticity}}
claims:
  - name: injected_claim
    text: {q['claim text']}
    check: {{kind: curve_narrows, metric: gap, ratio: 1.0}}
"""
    return text, texts


@pytest.mark.slow(15)
def test_shell_metacharacters_in_every_free_text_field_stay_data(tmp_path):
    project = copy_project(tmp_path, specs=False)
    (project / "specs" / "base").mkdir(parents=True)
    (project / "specs" / "base" / "gaussian.yaml").write_bytes((FIXTURE_SPECS / "base" / "gaussian.yaml").read_bytes())
    canary = "PWNED"
    text, texts = spec(canary)
    (project / "specs" / "injected.yaml").write_text(text)

    p = snakemake("--config", "scale=smoke", "--printshellcmds", cwd=project)
    assert not list(tmp_path.rglob("PWNED*"))
    commands = [line for line in p.stdout.splitlines() + p.stderr.splitlines() if " -m engine run " in line]
    assert len(commands) >= 4                      # finetune, evaluate, outputs (tables and figures), index
    for cmd in commands:                           # only hashes, keys and the scale reach a shell
        assert re.fullmatch(r"(Shell command: )?\S+ -m engine run \w+( [0-9a-f]{16})* --scale smoke"
                            r"( --manifest \S+)? > \S+ 2>&1", cmd.strip()), cmd

    paper = project / "paper" / "smoke"
    index = (paper / "README.md").read_text()
    table_md = (paper / "tables" / "injected_table.md").read_text()
    table_tex = (paper / "tables" / "injected_table.tex").read_text()
    assert (paper / "figures" / "injected_curve.png").stat().st_size > 1000   # `$x$` did not break mathtext
    c = canary
    # Markdown: the text is there as text; no raw HTML, no broken table row
    for label in ("T", "D", "D2", "P", "C"):
        assert f"{label}; touch {c}; $(touch {c}) `touch {c}`" in index, label
    assert "<b>" not in index and "&lt;b&gt;html&lt;/b&gt;" in index
    assert "\n\\# not a heading" in index
    claim_row = next(line for line in index.splitlines() if line.startswith("| C; touch"))
    # claim | setting | check | effect [interval] | n | verdict: six columns, so five separators; the text's "|" is escaped
    assert claim_row.count(" | ") == 5 and r"\| tee" in claim_row
    assert f"TC; touch {c}" in table_md and "<b>" not in table_md
    # LaTeX: every special character escaped inside the caption
    caption = next(line for line in table_tex.splitlines() if line.startswith(r"\caption{"))
    assert r"\$(touch" in caption and r"50\% \#hash \{brace\} \textasciitilde{}\textasciicircum{}\_" in caption
    assert r"\textbackslash{} back \textless{}b\textgreater{}html" in caption
    assert not re.search(r"(?<!\\)[$%#&<>|]", caption.split(" (mean")[0]), caption


def test_scale_from_the_command_line_never_reaches_a_shell(tmp_path):
    project = copy_project(tmp_path)
    canary = tmp_path / "PWNED"
    p = snakemake("-n", "--config", f"scale=smoke; touch {canary}", cwd=project, check=False)
    assert p.returncode == 2 and "unknown scale" in p.stderr
    assert not canary.exists()


# ----------------------------------------------------------------------------- sources
SOURCES = sorted([*ROOT.glob("engine/**/*.py"), *ROOT.glob("bench/*.py"), ROOT / "Snakefile",
                  *ROOT.glob("rules/*.smk")])
FORBIDDEN = {
    r"\bimport pickle\b|\bfrom pickle\b|\bcPickle\b|\bdill\b|\bjoblib\b|\bshelve\b": "pickle-based loading",
    r"\byaml\.(load|unsafe_load|full_load|load_all)\(|\byaml\.(Unsafe|Full)?Loader\b": "unsafe YAML loading",
    r"\ballow_pickle\s*=\s*True": "numpy pickles",
    r"shell\s*=\s*True|\bos\.system\(|\bos\.popen\(": "a shell",
    r"(?<![\w.])eval\(|(?<![\w.])exec\(": "eval/exec",
}


def _calls(text: str, name: str) -> list[str]:
    """The argument text of every call `name(...)` (balanced parentheses)."""
    out = []
    for m in re.finditer(re.escape(name) + r"\(", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        out.append(text[m.end():i - 1])
    return out


def test_sources_are_found():
    assert len(SOURCES) > 20 and ROOT / "engine" / "checkpoint.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_unpickling_no_unsafe_yaml_no_shell(path):
    text = path.read_text()
    for pattern, what in FORBIDDEN.items():
        m = re.search(pattern, text)
        assert not m, f"{path.relative_to(ROOT)} uses {what}: {m.group(0)!r}"
    for args in _calls(text, "torch.load"):
        assert re.search(r"weights_only\s*=\s*True", args), f"torch.load({args}) without weights_only=True"
    for args in _calls(text, "from_pretrained"):
        assert re.search(r"use_safetensors\s*=\s*True", args), f"from_pretrained({args}) may unpickle .bin weights"


def test_the_source_check_can_fail(tmp_path):
    bad = "import torch\nx = torch.load(open('w.pth', 'rb'), map_location='cpu')\n"
    assert [a for a in _calls(bad, "torch.load") if "weights_only=True" not in a]
    assert re.search(list(FORBIDDEN)[1], "yaml.load(f, Loader=yaml.Loader)")
