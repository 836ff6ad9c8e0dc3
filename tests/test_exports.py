"""The public surface: `wsevents.__all__` is exactly the union of the public
core modules' `__all__`, sorted and without duplicates, and every name exists."""

from __future__ import annotations

import importlib

import pytest

import wsevents


#: core modules (L0-L3) whose whole `__all__` is re-exported at the top level
REEXPORTED = [
    "wsevents.exceptions",
    "wsevents.events",
    "wsevents.backoff",
    "wsevents.routing",
    "wsevents._stats",
    "wsevents.connection",
]
#: top-level names from elsewhere (subpackage, helpers)
EXTRA = {"__version__", "load_config", "policies", "PolicyContext", "BinanceProtocol"}


def test_top_level_is_the_union_of_the_core_modules() -> None:
    """wsevents.__all__ == union of the re-exported modules' __all__ (+ a few extras)."""
    expected: set[str] = set(EXTRA)
    for name in REEXPORTED:
        expected |= set(importlib.import_module(name).__all__)
    assert set(wsevents.__all__) == expected


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


@pytest.mark.parametrize(
    "module",
    [
        *REEXPORTED,
        "wsevents.binance",
        "wsevents.policies",
        "wsevents.testing",
        "wsevents.sync",
        "wsevents.compat",
        "wsevents.cli",
        "wsevents._fileconfig",
        "wsevents._tracking",
        "wsevents._supervisor",
        "wsevents._delivery",
        "wsevents._config",
        "wsevents.bus",
        "wsevents.bus.publisher",
        "wsevents.bus.consumer",
        "wsevents.bus._encoding",
        "wsevents.bus._link",
        "wsevents.bus._adapter",
        "wsevents._cli_bus",
    ],
)
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
    [
        "wsevents",
        "wsevents.policies",
        "wsevents.binance",
        "wsevents.sync",
        "wsevents.compat",
        "wsevents.testing",
        "wsevents.bus",
    ],
)
def test_readme_api_reference_lists_every_public_name(module: str) -> None:
    """The README's API reference names every public name of every public module."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    reference = readme.split("## API reference", 1)[1].split("\n## ", 1)[0]
    missing = [n for n in importlib.import_module(module).__all__ if f"`{n}`" not in reference]
    assert not missing, f"{module}: not in the README's API reference: {missing}"
