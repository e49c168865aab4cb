"""Atomic file writes: a reader, or a crash, sees the old file or the new one, never half of one.

Book: How to run (section "Reliability").
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write"]


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    If the ``with`` block raises, the temporary file is removed and ``path`` keeps its
    previous content (or stays absent). The data is flushed to disk before the rename, so
    even a power cut or ``kill -9`` cannot leave a truncated ``path``.

    Args:
        path: destination file; its folder must exist.
        mode: ``"w"`` (text, UTF-8) or ``"wb"`` (binary).

    Raises:
        ValueError: ``mode`` is neither ``"w"`` nor ``"wb"``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(fd, "w", encoding="utf-8", newline="") if mode == "w" else open(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0o600; results are ordinary shared files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
