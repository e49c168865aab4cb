"""Run results on disk: the layout, typed run records, and readers that check what they read.

Book: Replication (section "Where results live"); How to run (section "Reliability").

Layout (``<base>`` is ``results/`` for results and ``checkpoints/`` for checkpoints)::

    <base>/<experiment>/<preset>/<model>/seed<k>/
        metrics.csv     one row per finished epoch (columns METRIC_FIELDS)   [results]
        config.json     the run's configuration, its outcome and provenance  [results]
        model.pt        the trained model's state_dict (runs with circuits)  [results]
        checkpoint.pt   training state after the last finished epoch         [checkpoints]

Results are small files meant to be committed (``model.pt``, a few MB, is kept for the runs
whose models have quantum circuits, so that they can be studied under noise without
retraining); checkpoints are binary, git-ignored.
Every file is written atomically (:mod:`~qpconv.replication.atomic`), ``metrics.csv``
before ``config.json``, so a reader sees a consistent pair.

``config.json`` is :class:`RunConfig` (what was trained, on what, with which recipe: also
the checkpoint's tag) followed by :class:`RunOutcome` (status, epochs completed,
versions, device, wall time). Runs recorded before the recipe was stored as such keep
their flat keys (``"optimizer": "Adam"``, ``"completed": true``, ...) and are read
unchanged. :func:`read_run` validates both files and raises :class:`DamagedRunError`,
naming the file and the reason, for anything it cannot trust. :func:`inspect_run` says where
a run's folder stands (:class:`RunState`), the one reading that ``qpconv run`` acts on and
``qpconv run --dry-run`` prints.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write
from .recipe import TrainingRecipe

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "METRIC_FIELDS",
    "MODEL_FILE",
    "DamagedRunError",
    "Divergence",
    "InspectedRun",
    "RunConfig",
    "RunOutcome",
    "RunRecord",
    "RunState",
    "RunStatus",
    "describe_device",
    "inspect_run",
    "library_versions",
    "metrics_table",
    "read_model",
    "read_run",
    "recorded_seeds",
    "run_path",
    "write_model",
    "write_run",
]

METRICS_FILE = "metrics.csv"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.pt"
METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
"""Columns of ``metrics.csv``; accuracies are fractions in ``[0, 1]``, ``seconds`` is the epoch's wall time."""


class DamagedRunError(ValueError):
    """A run's files cannot be trusted; the message names the file and the reason."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"damaged run: {path}: {reason}")
        self.path = path
        self.reason = reason


class RunStatus(str, Enum):
    """Where a run stands."""

    RUNNING = "running"
    """Epochs remain to be trained (interrupted or in progress); ``qpconv run`` resumes it."""
    COMPLETE = "complete"
    """Every epoch of the recipe trained."""
    DIVERGED = "diverged"
    """Stopped because training diverged (see :class:`RunOutcome`); never averaged in."""


@dataclass(frozen=True)
class RunConfig:
    """What a run trains and on what: the stable part of ``config.json``, and the checkpoint's tag.

    Attributes:
        experiment, preset, model, seed: where the run is stored (:func:`run_path`).
        dataset, dataset_copy: the dataset and which copy of it was loaded.
        train_size, test_size: images trained and tested on.
        subset_seed: seed of the stratified subsets, ``None`` for the whole splits.
        augmentation: always ``None`` (no augmentation, see :mod:`~qpconv.replication.loading`).
        model_kind: the pointwise block (:data:`~qpconv.replication.models.POINTWISE_BLOCKS`) or the
            network (:data:`~qpconv.replication.architectures.NETWORKS`).
        ansatz, n_layers: of the quantum layers, read from the built model (``None`` without).
        parameters: trainable-parameter counts (:func:`~qpconv.replication.models.parameter_summary`).
        recipe: the training recipe that ran.
        evaluated_on: ``"test"``, or ``"validation"`` when the run's "test" metrics are those of
            a validation split carved from the training set (tuning runs); only written when
            not ``"test"``, so the configs of all other runs read as before.
    """

    experiment: str
    preset: str
    model: str
    seed: int
    dataset: str
    dataset_copy: str
    train_size: int
    test_size: int
    subset_seed: int | None
    augmentation: str | None
    model_kind: str
    ansatz: str | None
    n_layers: int | None
    parameters: dict[str, int]
    recipe: TrainingRecipe
    evaluated_on: str = "test"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data: the fields, with ``recipe`` as a nested object (``evaluated_on`` only when not the test set)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["recipe"] = self.recipe.to_json()
        if self.evaluated_on == "test":
            del data["evaluated_on"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunConfig:
        """Read the config part of ``config.json``, in the current or the legacy (flat) form.

        Raises:
            ValueError: a missing field, a field of the wrong type, or an invalid recipe.
        """
        recipe = TrainingRecipe.from_json(data["recipe"]) if "recipe" in data else TrainingRecipe.from_legacy_config(data)
        values = {}
        for name, kind in _CONFIG_TYPES.items():
            if name not in data:
                raise ValueError(f"missing key {name!r}")
            if not _has_type(data[name], kind):
                raise ValueError(f"{name!r} is {data[name]!r}, expected {_type_names(kind)}")
            values[name] = data[name]
        evaluated_on = data.get("evaluated_on", "test")
        if evaluated_on not in ("test", "validation"):
            raise ValueError(f"'evaluated_on' is {evaluated_on!r}, expected 'test' or 'validation'")
        return cls(**values, recipe=recipe, evaluated_on=evaluated_on)


@dataclass(frozen=True)
class Divergence:
    """Where and why a run diverged (``config.json``'s ``divergence``: ``{"epoch": e, "reason": "..."}``).

    Attributes:
        epoch: the epoch (from 1) in which training was stopped.
        reason: what was seen, e.g. a non-finite loss or training accuracy at chance.
    """

    epoch: int
    reason: str

    def __str__(self) -> str:
        return f"epoch {self.epoch}: {self.reason}"


@dataclass(frozen=True)
class RunOutcome:
    """How a run went: the rest of ``config.json``.

    Attributes:
        status: :class:`RunStatus`.
        epochs_completed: rows of ``metrics.csv``.
        wall_seconds: summed wall time of those epochs.
        device: the hardware it trained on (:func:`describe_device`).
        versions: library versions (:func:`library_versions`).
        divergence: for a diverged run, where and why (:class:`Divergence`); else ``None``.
        memory_format: the layout it trained in (``memory_format`` of
            :func:`~qpconv.replication.training.train`), e.g. ``"torch.channels_last"``; runs
            recorded before the layout was recorded trained in ``"torch.contiguous_format"``.
    """

    status: RunStatus
    epochs_completed: int
    wall_seconds: float
    device: str
    versions: dict[str, str]
    divergence: Divergence | None = None
    memory_format: str = str(torch.contiguous_format)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (``status`` as its value)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["status"] = self.status.value
        data["divergence"] = None if self.divergence is None else asdict(self.divergence)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunOutcome:
        """Read the outcome part of ``config.json``; legacy files say ``"completed": true/false``.

        Raises:
            ValueError: a missing field or a field of the wrong type.
        """
        if "status" in data:
            status = RunStatus(data["status"])
        elif isinstance(data.get("completed"), bool):
            status = RunStatus.COMPLETE if data["completed"] else RunStatus.RUNNING
        else:
            raise ValueError("missing key 'status'")
        for name, kind in _OUTCOME_TYPES.items():
            if name not in data:
                raise ValueError(f"missing key {name!r}")
            if not _has_type(data[name], kind):
                raise ValueError(f"{name!r} is {data[name]!r}, expected {_type_names(kind)}")
        divergence = _read_divergence(data.get("divergence"))
        if status is RunStatus.DIVERGED and divergence is None:
            raise ValueError("a diverged run must say at which epoch and why ('divergence': {'epoch', 'reason'})")
        memory_format = data.get("memory_format", str(torch.contiguous_format))
        if not isinstance(memory_format, str):
            raise ValueError(f"'memory_format' is {memory_format!r}, expected str")
        return cls(
            status,
            data["epochs_completed"],
            float(data["wall_seconds"]),
            data["device"],
            data["versions"],
            divergence,
            memory_format,
        )


def _read_divergence(data: Any) -> Divergence | None:
    """``config.json``'s ``divergence`` as a :class:`Divergence`; ``None`` when absent or not of that form."""
    if not (isinstance(data, dict) and isinstance(data.get("epoch"), int) and isinstance(data.get("reason"), str)):
        return None
    return Divergence(data["epoch"], data["reason"])


_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "experiment": (str,),
    "preset": (str,),
    "model": (str,),
    "seed": (int,),
    "dataset": (str,),
    "dataset_copy": (str,),
    "train_size": (int,),
    "test_size": (int,),
    "subset_seed": (int, type(None)),
    "augmentation": (str, type(None)),
    "model_kind": (str,),
    "ansatz": (str, type(None)),
    "n_layers": (int, type(None)),
    "parameters": (dict,),
}
_OUTCOME_TYPES: dict[str, tuple[type, ...]] = {
    "epochs_completed": (int,),
    "wall_seconds": (int, float),
    "device": (str,),
    "versions": (dict,),
}


def _has_type(value: Any, kind: tuple[type, ...]) -> bool:
    return isinstance(value, kind) and not (isinstance(value, bool) and bool not in kind)


def _type_names(kind: tuple[type, ...]) -> str:
    return " or ".join("null" if k is type(None) else k.__name__ for k in kind)


@dataclass(frozen=True)
class RunRecord:
    """One run read back from disk and checked.

    Attributes:
        path: the run's folder.
        config: what was trained (:class:`RunConfig`).
        outcome: how it went (:class:`RunOutcome`).
        metrics: rows of ``metrics.csv``; ``epoch`` is an int, the rest floats.
    """

    path: Path
    config: RunConfig
    outcome: RunOutcome
    metrics: list[dict[str, float]] = field(repr=False)

    @property
    def completed(self) -> bool:
        """Whether every epoch of the recipe trained."""
        return self.outcome.status is RunStatus.COMPLETE

    @property
    def diverged(self) -> bool:
        """Whether training stopped because it diverged."""
        return self.outcome.status is RunStatus.DIVERGED


def run_path(base: str | os.PathLike, experiment: str, preset: str, model: str, seed: int) -> Path:
    """``<base>/<experiment>/<preset>/<model>/seed<seed>``: where one run's files live."""
    return Path(base) / experiment / preset / model / f"seed{seed}"


def recorded_seeds(base: str | os.PathLike, experiment: str, preset: str, model: str) -> list[int]:
    """Seeds ``k`` (sorted) with a ``seed<k>`` folder under ``<base>/<experiment>/<preset>/<model>/``."""
    model_dir = Path(base) / experiment / preset / model
    names = [p.name for p in model_dir.glob("seed*") if p.is_dir()] if model_dir.is_dir() else []
    return sorted(int(name[4:]) for name in names if name[4:].isdigit())


def write_run(run_dir: str | os.PathLike, config: RunConfig, outcome: RunOutcome, metrics: list[dict[str, float]]) -> None:
    """Write ``metrics.csv`` then ``config.json`` of a run, each atomically.

    ``config.json`` is written last, so a run whose config says ``"status": "complete"``
    always has its complete metrics on disk.

    Args:
        run_dir: the run's folder (created if needed).
        config, outcome: the two parts of ``config.json``.
        metrics: per-epoch rows with the keys :data:`METRIC_FIELDS`.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / METRICS_FILE) as file:
        writer = csv.DictWriter(file, fieldnames=METRIC_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(metrics)
    with atomic_write(run_dir / CONFIG_FILE) as file:
        json.dump({**config.to_json(), **outcome.to_json()}, file, indent=2, sort_keys=True)
        file.write("\n")


def write_model(run_dir: str | os.PathLike, state: Mapping[str, torch.Tensor]) -> Path:
    """Write a trained model's ``state_dict`` as ``model.pt`` in the run's folder, atomically; its path."""
    path = Path(run_dir) / MODEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as file:
        torch.save({key: value.detach().cpu() for key, value in state.items()}, file)
    return path


def read_model(run_dir: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The ``state_dict`` in a run's ``model.pt``, loaded with ``weights_only=True``.

    Raises:
        FileNotFoundError: the run kept no model.
        DamagedRunError: the file cannot be read, or is not a state_dict of tensors.
    """
    path = Path(run_dir) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no trained model in {path.parent} (only runs with quantum circuits keep {MODEL_FILE})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, not a torch file, or refused by the safe unpickler
        raise DamagedRunError(path, f"cannot be read ({type(error).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DamagedRunError(path, "not a state_dict of tensors")
    return state


def read_run(run_dir: str | os.PathLike) -> RunRecord | None:
    """The run stored in ``run_dir``, checked, or ``None`` when it holds no ``config.json``.

    Checks: ``config.json`` is valid JSON with every field of :class:`RunConfig` and
    :class:`RunOutcome` of the right type; ``metrics.csv`` has the columns
    :data:`METRIC_FIELDS`, numbers in every cell, epochs ``1, 2, ...`` in order and as many
    rows as ``epochs_completed``; a complete run has as many as its recipe's epochs.

    Raises:
        DamagedRunError: any check fails; the message names the file and the reason.
    """
    run_dir = Path(run_dir)
    config_file, metrics_file = run_dir / CONFIG_FILE, run_dir / METRICS_FILE
    if not config_file.is_file():
        return None
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedRunError(config_file, f"not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise DamagedRunError(config_file, "not a JSON object")
    try:
        config, outcome = RunConfig.from_json(data), RunOutcome.from_json(data)
    except ValueError as error:
        raise DamagedRunError(config_file, str(error)) from None
    metrics = _read_metrics(metrics_file) if metrics_file.is_file() else []
    if len(metrics) != outcome.epochs_completed:
        raise DamagedRunError(
            metrics_file, f"{len(metrics)} epoch row(s), but {CONFIG_FILE} says {outcome.epochs_completed} epoch(s) completed"
        )
    if outcome.status is RunStatus.COMPLETE and outcome.epochs_completed != config.recipe.epochs:
        raise DamagedRunError(
            config_file, f"says complete after {outcome.epochs_completed} of the recipe's {config.recipe.epochs} epochs"
        )
    return RunRecord(run_dir, config, outcome, metrics)


class RunState(str, Enum):
    """Where a run's results folder stands, and what ``qpconv run`` does with it (:func:`inspect_run`)."""

    NEW = "new"
    """Nothing recorded yet; trains from its first epoch."""
    PARTIAL = "partial"
    """Some epochs recorded, more to train; resumes from its checkpoint."""
    COMPLETE = "complete"
    """Recorded to its last epoch; skipped."""
    DIVERGED = "diverged"
    """Recorded as diverged; skipped (``--restart`` trains it again)."""
    DAMAGED = "damaged"
    """Its recorded files cannot be read; resumes from its checkpoint, or retrains."""


@dataclass(frozen=True)
class InspectedRun:
    """A run's folder as :func:`inspect_run` found it.

    Attributes:
        state: where it stands.
        record: what :func:`read_run` read (``None`` when nothing is recorded or it is damaged).
        damage: why it cannot be read (``None`` unless ``state`` is :attr:`RunState.DAMAGED`).
    """

    state: RunState
    record: RunRecord | None
    damage: DamagedRunError | None = None

    @property
    def epochs_done(self) -> int:
        """Epochs recorded (0 for new and damaged runs)."""
        return 0 if self.record is None else len(self.record.metrics)

    @property
    def divergence(self) -> Divergence | None:
        """Where and why the run diverged; ``None`` unless ``state`` is :attr:`RunState.DIVERGED`."""
        return None if self.record is None else self.record.outcome.divergence


def inspect_run(run_dir: str | os.PathLike) -> InspectedRun:
    """Read ``run_dir`` with :func:`read_run` and say where the run stands; a damaged run is reported, never raised."""
    try:
        record = read_run(run_dir)
    except DamagedRunError as error:
        return InspectedRun(RunState.DAMAGED, None, error)
    if record is not None and record.completed:
        return InspectedRun(RunState.COMPLETE, record)
    if record is not None and record.diverged:  # in its first epoch, a diverged run records no epoch row
        return InspectedRun(RunState.DIVERGED, record)
    return InspectedRun(RunState.PARTIAL if record is not None and record.metrics else RunState.NEW, record)


def _read_metrics(metrics_file: Path) -> list[dict[str, float]]:
    try:
        reader = csv.DictReader(io.StringIO(metrics_file.read_text(encoding="utf-8")))
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise DamagedRunError(metrics_file, f"not a readable CSV file ({error})") from None
    if reader.fieldnames is None:
        raise DamagedRunError(metrics_file, "is empty (not even a header)")
    if tuple(reader.fieldnames) != METRIC_FIELDS:
        raise DamagedRunError(metrics_file, f"columns {reader.fieldnames}, expected {list(METRIC_FIELDS)}")
    metrics = []
    for number, row in enumerate(rows, start=1):
        try:
            parsed = {key: int(value) if key == "epoch" else float(value) for key, value in row.items()}
        except (TypeError, ValueError):
            raise DamagedRunError(metrics_file, f"row {number} is not a row of numbers: {row}") from None
        if parsed["epoch"] != number:
            raise DamagedRunError(metrics_file, f"row {number} is epoch {parsed['epoch']}; expected epochs 1, 2, ... in order")
        if not all(math.isfinite(parsed[key]) for key in ("train_acc", "test_acc", "lr", "seconds")):
            raise DamagedRunError(metrics_file, f"row {number} has a non-finite accuracy, learning rate or time")
        metrics.append(parsed)
    return metrics


def metrics_table(runs: Iterable[RunRecord]) -> list[dict[str, Any]]:
    """Runs as one tidy table: a row per (run, epoch) with model, seed and the epoch's metrics.

    The rows suit ``pandas.DataFrame(rows)`` and seaborn's ``hue="model"`` directly.
    Each row has ``experiment``, ``preset``, ``dataset``, ``dataset_copy``, ``model``,
    ``seed``, ``status`` and the :data:`METRIC_FIELDS`.
    """
    return [
        {
            "experiment": run.config.experiment,
            "preset": run.config.preset,
            "dataset": run.config.dataset,
            "dataset_copy": run.config.dataset_copy,
            "model": run.config.model,
            "seed": run.config.seed,
            "status": run.outcome.status.value,
            **row,
        }
        for run in runs
        for row in run.metrics
    ]


def library_versions() -> dict[str, str]:
    """Versions of python, torch, torchvision, pennylane and qpconv, for a run's config."""
    versions = {"python": platform.python_version()}
    for package in ("torch", "torchvision", "pennylane", "qpconv"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def describe_device(device: torch.device) -> str:
    """A human-readable name of ``device``: the GPU's name, or the CPU model and torch thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = models[0] if models else cpu
    return f"cpu: {cpu}, {torch.get_num_threads()} torch threads"
