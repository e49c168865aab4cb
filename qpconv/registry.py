"""Name lookups in the package's registries (ansätze, datasets, experiments, presets)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

__all__ = ["lookup"]

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """``registry[name]``.

    Args:
        registry: the registry, keyed by name.
        name: the name asked for.
        what: what the registry holds, for the error message (e.g. ``"dataset"``).

    Raises:
        ValueError: ``name`` is not in ``registry``; the message names ``what`` and lists the known names.

    Example::

        >>> lookup({"quick": 2, "full": 20}, "full", "preset")
        20
        >>> lookup({"quick": 2, "full": 20}, "fast", "preset")
        Traceback (most recent call last):
        ValueError: unknown preset 'fast'; expected one of ['quick', 'full']
    """
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r}; expected one of {list(registry)}") from None
