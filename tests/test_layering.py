"""The architecture rule of DESIGN.md section 6: import only downward.

Imports are read with ``ast`` from the source files, so the test also catches
imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest


PACKAGE = Path(__file__).resolve().parent.parent / "wsevents"

#: module (relative to the package, no .py) -> layer
LAYERS: dict[str, int] = {
    "exceptions": 0,
    "_version": 0,
    "events": 1,
    "backoff": 1,
    "routing": 1,
    "binance": 1,
    "bybit": 1,
    "okx": 1,
    "_venue": 1,
    "_config": 1,
    "_fileconfig": 1,
    "_stats": 1,
    "_latency": 1,
    "_tracking": 1,
    "_window": 1,
    "_options": 1,
    "policies": 1,
    # wsevents.book: the book, the synchroniser, its payloads and the venue rules are
    # pure (L1); the keeper drives them from a Connection (L3); its testing feed is L4.
    "book._levels": 0,
    "book._book": 1,
    "book._events": 1,
    "book._venue": 1,
    "book._sync": 1,
    "book.binance": 1,
    "book.bybit": 1,
    "book.okx": 1,
    "book._keeper": 3,
    "book": 3,
    "book.testing": 4,
    "_supervisor": 2,
    "_signal": 3,
    "_emitter": 3,
    "_delivery": 3,
    "_handover": 3,
    "_reader": 3,
    "_runner": 3,
    "_ticker": 3,
    "_link": 3,
    "_stream": 3,
    "_requests": 3,
    "_heartbeat": 3,
    "_session": 3,
    "_transport": 3,
    "_picows": 3,
    "_bounded": 3,
    "_face": 3,
    "connection": 3,
    "_lane": 3,
    "_shard": 3,
    "_move": 3,
    "pool": 3,
    "ratelimit": 3,
    "record": 3,
    "__init__": 3,
    "sync": 4,
    "testing": 4,
    "_replay": 4,
    "metrics": 4,
    "bus": 4,
    "compat": 5,
    "pytest_plugin": 5,
    "cli": 5,
    "_cli_bus": 5,
    "_cli_obs": 5,
    "_demo": 5,
    "_demo_pool": 5,
    "_format": 5,
    "__main__": 5,
}

#: third-party and stdlib modules a layer may not use
FORBIDDEN_BELOW_L3 = ("asyncio", "websockets", "pyee", "threading")


def layer_of(module: str) -> int:
    """The layer of a dotted module name inside the package: its longest prefix
    in the table (``book._sync`` before ``book``)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise AssertionError(f"module {module!r} has no layer in tests/test_layering.py")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of everything ``path`` imports."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    package_parts = list(rel.parts[:-1])
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                target = ".".join(["wsevents", *base, *(node.module or "").split(".")]).rstrip(".")
                if node.module is None:
                    # ``from . import x``: a submodule, or a name of the package itself.
                    folder = PACKAGE.joinpath(*base)
                    for alias in node.names:
                        is_module = (folder / f"{alias.name}.py").exists() or (
                            folder / alias.name / "__init__.py"
                        ).exists()
                        name = f"{target}.{alias.name}" if is_module else target
                        found.append((name, node.lineno))
                    continue
                found.append((target, node.lineno))
            else:
                found.append((node.module or "", node.lineno))
    return found


def own_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"] or ["__init__"]
    return ".".join(parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_downward(path: Path) -> None:
    """A module imports wsevents modules of its own layer or lower only."""
    me = own_name(path)
    my_layer = layer_of(me)
    for module, line in imported(path):
        if module.startswith("wsevents.") or module == "wsevents":
            other = module.removeprefix("wsevents.") if module != "wsevents" else "__init__"
            if other.startswith("policies") and my_layer == 1:
                continue  # policies is one L1 package
            assert layer_of(other) <= my_layer, (
                f"{path.name}:{line} (L{my_layer}) imports {module} (L{layer_of(other)})"
            )
        if my_layer < 3:
            root = module.split(".")[0]
            assert root not in FORBIDDEN_BELOW_L3, (
                f"{path.name}:{line} (L{my_layer}) imports {module}"
            )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_never_reads_the_clock(path: Path) -> None:
    """L0-L2 take time as an argument: no time.time(), monotonic() or datetime.now()."""
    if layer_of(own_name(path)) > 2:
        return
    source = path.read_text()
    for call in ("time.time(", "time.monotonic(", "datetime.now(", ".utcnow(", "date.today("):
        assert call not in source, f"{path.name} reads the clock with {call}"


def test_only_allowed_modules_import_the_server_and_pytest() -> None:
    """Only testing imports websockets' server; only the pytest plugin imports pytest."""
    for path in modules():
        names = {m for m, _ in imported(path)}
        if any(m.startswith("websockets.asyncio.server") for m in names):
            assert own_name(path) == "testing", path
        if "pytest" in names or any(m.startswith("_pytest") for m in names):
            assert own_name(path) == "pytest_plugin", path


def test_top_level_does_not_import_opt_in_layers() -> None:
    """`import wsevents` never loads sync, compat, testing, the pytest plugin or the CLI."""
    for module, _ in imported(PACKAGE / "__init__.py"):
        if module.startswith("wsevents."):
            assert layer_of(module.removeprefix("wsevents.")) <= 3, module


def test_architecture_md_draws_the_same_layers() -> None:
    """ARCHITECTURE.md's layer table is this test's table: the picture stays true."""
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    table = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    drawn: dict[str, int] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].isdigit():
            drawn[cells[0].strip("`")] = int(cells[1])
    assert drawn == LAYERS


def test_every_module_has_a_layer() -> None:
    """A new module must be placed in the table (and so in ARCHITECTURE.md)."""
    for path in modules():
        layer_of(own_name(path))
