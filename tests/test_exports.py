"""The public surface: `wsevents.__all__` is exactly what `wsevents/__init__.py`
imports from the core modules, sorted and without duplicates, every module of the
package declares an `__all__` of names that exist, and the README's API reference
names every public name.  The module lists are derived from the package itself."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import wsevents


PACKAGE = Path(wsevents.__file__).resolve().parent


def all_modules() -> list[str]:
    """Every module of the package (found on disk), ``wsevents`` itself included."""
    found = ["wsevents"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="wsevents."):
        found.append(info.name)
    return sorted(found)


def public_modules() -> list[str]:
    """The modules a user imports: no part of the dotted name starts with ``_``."""
    return [m for m in all_modules() if not any(p.startswith("_") for p in m.split("."))]


def top_level_imports() -> dict[str, list[str]]:
    """``from .X import a, b`` lines of ``wsevents/__init__.py``: module -> names."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imports: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            module = "wsevents" + (f".{node.module}" if node.module else "")
            imports.setdefault(module, []).extend(a.asname or a.name for a in node.names)
    return imports


def test_the_derived_lists_are_not_empty() -> None:
    """The discovery finds the modules it must (a broken walk would pass vacuously)."""
    assert {"wsevents.connection", "wsevents.sync", "wsevents._delivery"} <= set(all_modules())
    assert "wsevents._delivery" not in public_modules()
    assert "wsevents.connection" in top_level_imports()


def test_top_level_is_what_init_imports() -> None:
    """wsevents.__all__ == the names `__init__` imports; each comes from its module's
    `__all__` (or is a submodule), and a core module whose names are re-exported at
    all is re-exported whole, except the package-level helpers of the few below."""
    partial = {
        "wsevents._fileconfig",
        "wsevents.binance",
        "wsevents.policies",
        "wsevents.ratelimit",
    }
    imported: set[str] = set()
    for module, names in top_level_imports().items():
        mod = importlib.import_module(module)
        for name in names:
            is_submodule = f"{module}.{name}" in all_modules() or (
                module == "wsevents" and f"wsevents.{name}" in all_modules()
            )
            assert is_submodule or name in mod.__all__, f"{module}.{name} is not public there"
        imported |= set(names)
        if module != "wsevents" and module not in partial:
            assert set(mod.__all__) <= set(names), f"{module}: re-export all of __all__"
    assert set(wsevents.__all__) == imported


def test_all_is_sorted_and_unique() -> None:
    """No duplicates in __all__, kept in isort order (constants, classes, the rest)."""

    def isort_key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert len(wsevents.__all__) == len(set(wsevents.__all__))
    assert wsevents.__all__ == sorted(wsevents.__all__, key=isort_key)


@pytest.mark.parametrize("name", wsevents.__all__)
def test_every_exported_name_exists(name: str) -> None:
    """Each exported name resolves."""
    assert getattr(wsevents, name) is not None


@pytest.mark.parametrize("module", all_modules())
def test_every_module_declares_all(module: str) -> None:
    """Every module has an __all__ whose names exist."""
    mod = importlib.import_module(module)
    assert isinstance(mod.__all__, list)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names a missing {name}"


def test_py_typed_ships() -> None:
    """The package is marked as typed."""
    from importlib.resources import files

    assert files("wsevents").joinpath("py.typed").is_file()


@pytest.mark.parametrize(
    "module",
    [m for m in public_modules() if m not in ("wsevents.cli", "wsevents.pytest_plugin")],
)
def test_readme_api_reference_lists_every_public_name(module: str) -> None:
    """The README's API reference names every public name of every public module."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    reference = readme.split("## API reference", 1)[1].split("\n## ", 1)[0]
    missing = [n for n in importlib.import_module(module).__all__ if f"`{n}`" not in reference]
    assert not missing, f"{module}: not in the README's API reference: {missing}"
