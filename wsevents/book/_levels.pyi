"""The compiled level loop of an order book's side (``_levels.c``)."""

from collections.abc import Sequence
from typing import Any

__all__ = ["apply"]

def apply(
    sizes: dict[str, Any],
    names: dict[float, str],
    sign: float,
    levels: Sequence[Any],
    start: int,
    /,
) -> int: ...
