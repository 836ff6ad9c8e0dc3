"""Every example runs against a FakeServer, and every README code block comes from one."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from wsevents.testing import FakeServer


ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
#: examples that are pytest files rather than programs (run by their own test)
PYTEST_EXAMPLES = {"test_with_fake_server.py"}


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "path", [p for p in EXAMPLES if p.name not in PYTEST_EXAMPLES], ids=lambda p: p.name
)
async def test_example_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """main(url) finishes against a FakeServer (playing the example's feed, if any),
    with a Redis server of its own for the examples that say ``NEEDS_REDIS``."""
    module = load(path)
    main = module.main
    if getattr(module, "NEEDS_REDIS", False):
        from tests.bus.redis_server import RedisServer

        redis = RedisServer()
        redis.start()
        monkeypatch.setenv("WSEVENTS_REDIS_URL", redis.url)
        try:
            await _run(module, main)
        finally:
            redis.stop()
        return
    await _run(module, main)


async def _run(module: ModuleType, main: Any) -> None:
    async with FakeServer() as server:
        feed = getattr(module, "feed", None)
        tasks = []
        if inspect.iscoroutinefunction(main):
            tasks.append(asyncio.ensure_future(main(server.url)))
        else:
            tasks.append(asyncio.ensure_future(asyncio.to_thread(main, server.url)))
        if feed is not None:
            tasks.append(asyncio.ensure_future(feed(server)))
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
        finally:
            for task in tasks:
                task.cancel()


def test_readme_code_blocks_come_from_examples() -> None:
    """Each python block of the README appears verbatim in an example file."""
    readme = (ROOT / "README.md").read_text()
    sources = "\n".join(p.read_text() for p in EXAMPLES)
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "the README has no python code block"
    for block in blocks:
        body = block.strip("\n")
        assert all(line in sources for line in body.splitlines()), (
            f"README block not found in examples/:\n{body}"
        )
        assert body in sources, f"README block not found verbatim in examples/:\n{body}"


def test_readme_toml_blocks_build_connections() -> None:
    """Each TOML block of the README is a valid configuration for Connection.from_config."""
    import wsevents

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.S)
    assert blocks
    for block in blocks:
        ws = wsevents.Connection.from_config(tomllib.loads(block)["wsevents"])
        assert ws.state is wsevents.State.IDLE
