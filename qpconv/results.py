"""Run results on disk: atomic writes, the results layout, reading runs back.

Book: Replicating Figs. 4-5 (section "Where results live").

Layout (``<base>`` is ``results/`` for results and ``checkpoints/`` for checkpoints)::

    <base>/<experiment>/<preset>/<model>/seed<k>/
        metrics.csv     one row per finished epoch (columns METRIC_FIELDS)   [results]
        config.json     the run's full configuration and provenance          [results]
        checkpoint.pt   training state after the last finished epoch         [checkpoints]

Results are small text files meant to be committed; checkpoints are binary, git-ignored.
Every file is written to a temporary file in the same folder and moved into place with
``os.replace``, so a reader (or a crash) sees either the old or the new file, never a
half-written one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

import torch

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "METRIC_FIELDS",
    "RunRecord",
    "atomic_write",
    "describe_device",
    "library_versions",
    "read_run",
    "recorded_seeds",
    "run_path",
    "write_run",
]

METRICS_FILE = "metrics.csv"
CONFIG_FILE = "config.json"
METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
"""Columns of ``metrics.csv``; accuracies are fractions in ``[0, 1]``, ``seconds`` is the epoch's wall time."""


@dataclass(frozen=True)
class RunRecord:
    """One run read back from disk.

    Attributes:
        config: the content of ``config.json`` (see :func:`qpconv.experiments.run_experiment`).
        metrics: rows of ``metrics.csv`` as dicts; ``epoch`` is an int, the rest floats.
    """

    config: dict[str, Any]
    metrics: list[dict[str, float]]


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    Book: Replicating Figs. 4-5.

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
        with open(fd, mode, **({"encoding": "utf-8", "newline": ""} if mode == "w" else {})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0o600; results are ordinary shared files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run_path(base: str | os.PathLike, experiment: str, preset: str, model: str, seed: int) -> Path:
    """``<base>/<experiment>/<preset>/<model>/seed<seed>``: where one run's files live.

    Book: Replicating Figs. 4-5.
    """
    return Path(base) / experiment / preset / model / f"seed{seed}"


def recorded_seeds(base: str | os.PathLike, experiment: str, preset: str, model: str) -> list[int]:
    """Seeds ``k`` (sorted) with a ``seed<k>`` folder under ``<base>/<experiment>/<preset>/<model>/``.

    Book: Replicating Figs. 4-5.
    """
    model_dir = Path(base) / experiment / preset / model
    names = [p.name for p in model_dir.glob("seed*") if p.is_dir()] if model_dir.is_dir() else []
    return sorted(int(name[4:]) for name in names if name[4:].isdigit())


def write_run(run_dir: str | os.PathLike, config: dict[str, Any], metrics: list[dict[str, float]]) -> None:
    """Write ``metrics.csv`` then ``config.json`` of a run, each atomically.

    Book: Replicating Figs. 4-5.

    ``config.json`` is written last, so a run whose config says ``"completed": true``
    always has its complete metrics on disk.

    Args:
        run_dir: the run's folder (created if needed).
        config: JSON-serialisable configuration.
        metrics: per-epoch rows with the keys :data:`METRIC_FIELDS`.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / METRICS_FILE) as file:
        writer = csv.DictWriter(file, fieldnames=METRIC_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(metrics)
    with atomic_write(run_dir / CONFIG_FILE) as file:
        json.dump(config, file, indent=2, sort_keys=True)
        file.write("\n")


def read_run(run_dir: str | os.PathLike) -> RunRecord | None:
    """The run stored in ``run_dir``, or ``None`` when it holds no ``config.json``.

    Book: Replicating Figs. 4-5.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        return None
    config = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    metrics_file = run_dir / METRICS_FILE
    rows = list(csv.DictReader(io.StringIO(metrics_file.read_text(encoding="utf-8")))) if metrics_file.is_file() else []
    metrics = [{key: int(value) if key == "epoch" else float(value) for key, value in row.items()} for row in rows]
    return RunRecord(config, metrics)


def library_versions() -> dict[str, str]:
    """Versions of python, torch, torchvision, pennylane and qpconv, for a run's config.

    Book: Replicating Figs. 4-5.
    """
    versions = {"python": platform.python_version()}
    for package in ("torch", "torchvision", "pennylane", "qpconv"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def describe_device(device: torch.device) -> str:
    """A human-readable name of ``device``: the GPU's name, or the CPU model and torch thread count.

    Book: Replicating Figs. 4-5.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = models[0] if models else cpu
    return f"cpu: {cpu}, {torch.get_num_threads()} torch threads"
