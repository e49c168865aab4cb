"""One process per run: an exclusive lock file next to the run's checkpoint.

Book: How to run (section "Reliability").

:func:`run_lock` takes an ``fcntl`` lock on ``<checkpoint folder>/run.lock`` and writes the
holder's pid, host and start time into it. The operating system releases the lock when
its process ends in any way, ``kill -9`` included, so a lock left by a dead process is
simply taken over; a live holder makes a second process refuse, naming the run and the
holder. Different runs have different lock files and train in parallel.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_FILE", "RunLockedError", "run_lock"]

LOCK_FILE = "run.lock"


class RunLockedError(RuntimeError):
    """Another live process is training the same run."""


@contextmanager
def run_lock(folder: Path, run: str) -> Iterator[None]:
    """Hold the lock of the run whose checkpoint lives in ``folder`` while the block runs.

    Args:
        folder: the run's checkpoint folder (created if needed).
        run: the run's name, for the message (e.g. ``"fig4_5/full/quantum-L3/seed0"``).

    Raises:
        RunLockedError: another process holds the lock; the message names the run and the
            holder's pid, host and start time.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "a process that has not written its pid yet"
            raise RunLockedError(
                f"{run} is being trained by another process ({holder}; lock {path}): not starting it twice"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        file.flush()
        try:
            yield
        finally:
            file.seek(0)
            file.truncate()
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
