"""Code identity per component: versions in hashes, digests of the code behind them.

A component is a registered kind ("algorithm:ddpo") or stage kind ("stage:finetune"). A stage
instance's hash holds its stage's version (as it always did) and, for every other component
it uses (the kinds its node names or its config slices hold), the version when it differs
from the baseline 1. So a component left at version 1 hashes exactly as before versions per
component existed, and bumping MixGRPO re-keys MixGRPO's results only.

A component's *code* is every engine module its declaration and implementation can reach
through imports (at module level and inside functions, found with `ast`), so shared helpers
count for each component that uses them. engine/fingerprints.json records each component's
version and code digest; tests/test_code_versions.py fails when a digest changed without a
version bump (`engine fingerprint --update`; `--no-numeric-change` when no number can move).
Kinds looked up by name through the registry are components of their own, in the hash when used.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from . import registry

ENGINE_DIR = registry.ENGINE_DIR
FINGERPRINTS = ENGINE_DIR / "fingerprints.json"
BASELINE = 1


def component_id(item) -> str:
    return f"stage:{item.name}" if isinstance(item, registry.StageKind) else f"{item.room}:{item.name}"


def components() -> dict[str, object]:
    out = {component_id(k): k for k in registry.kinds()}
    out.update({component_id(s): s for s in registry.stages().values()})
    return dict(sorted(out.items()))


def versions_in_hash(uses) -> dict[str, int]:
    """The non-baseline versions of the kinds `uses` names ((room, kind) pairs), for a hash."""
    out = {}
    for room, name in uses:
        v = registry.kind(room, name).version
        if v != BASELINE:
            out[f"{room}:{name}"] = v
    return dict(sorted(out.items()))


def _module_file(name: str) -> Path | None:
    """The source file of a module (None for a name that is no module, e.g. an imported class)."""
    parts = name.split(".")
    if parts[0] == "engine":
        base = ENGINE_DIR.joinpath(*parts[1:])
        for p in (base.with_suffix(".py"), base / "__init__.py"):
            if p.is_file():
                return p
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, AttributeError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def _imports(path: Path, module: str) -> set[str]:
    """Modules `path` imports anywhere in its body (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)      # `from . import store`
    return out


@lru_cache(maxsize=None)
def closure(modules: tuple[str, ...]) -> tuple[tuple[str, Path], ...]:
    """Every engine module reachable from `modules` (and the plugins named there) by imports."""
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        path = _module_file(m)
        if path is None:
            continue
        inside = path.is_relative_to(ENGINE_DIR)
        if not inside and m not in modules:
            continue                      # third-party code: pinned by requirements.lock
        seen[m] = path
        for parent in _parents(m):
            todo.append(parent)
        todo += [i for i in _imports(path, m) if i.split(".")[0] == "engine" or i in modules]
    return tuple(sorted(seen.items()))


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def own_modules(item) -> tuple[str, ...]:
    return tuple(m for m in (item.declared_in, item.code) if m)


def digest(item) -> str:
    h = hashlib.sha256()
    for name, path in closure(own_modules(item)):
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def _instance_digest(stage: str, uses: tuple) -> str:
    items = [registry.stage(stage)] + [registry.kind(r, n) for r, n in uses]
    return hashlib.sha256("".join(digest(i) for i in items).encode()).hexdigest()[:16]


def instance_digest(stage: str, uses) -> str:
    """The code behind one stage instance: its stage's and its kinds' digests together (the
    source files are read once per process)."""
    return _instance_digest(stage, tuple(sorted(set(map(tuple, uses)))))


def recorded() -> dict:
    return json.loads(FINGERPRINTS.read_text()) if FINGERPRINTS.is_file() else {}


def update_fingerprints(no_numeric_change: bool = False) -> list[str]:
    """Record current digests. Refuses a changed component whose version was not bumped, unless
    the caller states the change cannot move any number (then old results stay valid)."""
    old = recorded()
    new, problems = {}, []
    for cid, item in components().items():
        d = digest(item)
        prev = old.get(cid)
        if prev and prev["digest"] != d and prev["version"] == item.version and not no_numeric_change:
            problems.append(f"{cid}: code changed but its version is still {item.version}; bump `version=` in "
                            f"{item.declared_in} (or pass --no-numeric-change if no number can change)")
        new[cid] = {"version": item.version, "digest": d}
    if not problems:
        FINGERPRINTS.write_text(json.dumps(new, indent=2, sort_keys=True) + "\n")
    return problems
