"""The recorded device study of "On a real quantum computer": every trained model under every device condition.

Book: "On a real quantum computer".

For each recorded full run of ``quantum-L3`` that kept its trained model (experiments
``fig4_5`` and ``fig6_7``), :func:`record_study` writes, in
``<results>/device_study/<preset>/<experiment>/seed<k>/``:

* ``conditions.csv``: test accuracy under every :data:`~qpconv.replication.robustness.CONDITIONS`
  (columns ``kind, shots, depolarizing, accuracy``; ``shots`` empty for exact expectations);
* ``noise_aware.csv``: for each ``p`` of :data:`~qpconv.replication.robustness.NOISE_AWARE` (by default), the
  test accuracy under that noise of the model as trained, of the model after fine-tuning
  without noise (the control) and after fine-tuning with the noise
  (:func:`~qpconv.replication.robustness.fine_tune_top`); columns ``depolarizing,
  fine_tuning, accuracy`` with ``fine_tuning`` one of :class:`FineTuned`;
* ``study.json`` last: the run it studied, its seed, the test and training images, the fine-tuning
  recipe, the seconds it took and the library versions. A folder without it is incomplete
  and is studied again; every file is written atomically.

A damaged file is reported by path (:class:`~qpconv.replication.results.DamagedRunError`).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import pandas as pd
from torch.utils.data import TensorDataset

from .atomic import atomic_write
from .experiments import DEFAULT_RESULTS_DIR, SUBSET_SEED, get_experiment, trained_models
from .loading import load_dataset, stratified_subset
from .models import HybridCNN
from .results import DamagedRunError, library_versions
from .robustness import (
    CONDITIONS,
    NOISE_AWARE,
    ConditionKind,
    DeviceCondition,
    FineTuning,
    condition_accuracies,
    feature_maps,
    fine_tune_top,
)

__all__ = [
    "STUDIED_EXPERIMENTS",
    "STUDIED_MODEL",
    "FineTuned",
    "StudySize",
    "read_studies",
    "record_study",
    "study_path",
    "summarise_conditions",
    "tolerated",
]

STUDY = "device_study"
STUDIED_EXPERIMENTS = ("fig4_5", "fig6_7")
"""Fashion-MNIST and CIFAR-10, the paper's quantum ``L = 3`` model."""
STUDIED_MODEL = "quantum-L3"
CONDITIONS_FILE, NOISE_AWARE_FILE, STUDY_FILE = "conditions.csv", "noise_aware.csv", "study.json"
CONDITION_COLUMNS = ["kind", "shots", "depolarizing", "accuracy"]
NOISE_AWARE_COLUMNS = ["depolarizing", "fine_tuning", "accuracy"]


class FineTuned(str, Enum):
    """Which model a row of ``noise_aware.csv`` scores."""

    NONE = "as trained"
    NOISELESS = "fine-tuned without noise"
    NOISY = "fine-tuned with the noise"


@dataclasses.dataclass(frozen=True)
class StudySize:
    """How much of the data a study uses.

    Attributes:
        name: the study's folder (``"full"``: the whole test and training sets).
        runs: the preset of the studied runs.
        test_images, train_images: stratified subsets (drawn with the seed ``SUBSET_SEED`` of
            :mod:`~qpconv.replication.experiments`), or ``None`` for the whole split.
        conditions: the device conditions evaluated.
        noise_aware: the depolarising probabilities of the noise-aware fine-tuning.
        fine_tuning: the recipe of the noise-aware fine-tuning.
    """

    name: str = "full"
    runs: str = "full"
    test_images: int | None = None
    train_images: int | None = None
    conditions: tuple[DeviceCondition, ...] = CONDITIONS
    noise_aware: tuple[float, ...] = NOISE_AWARE
    fine_tuning: FineTuning = dataclasses.field(default_factory=FineTuning)


def study_path(results_dir: str | os.PathLike, preset: str, experiment: str, seed: int) -> Path:
    """``<results>/device_study/<preset>/<experiment>/seed<seed>``."""
    return Path(results_dir) / STUDY / preset / experiment / f"seed{seed}"


def _subset(split: TensorDataset, size: int | None) -> TensorDataset:
    return split if size is None else stratified_subset(split, size, SUBSET_SEED)


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with atomic_write(path) as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def record_study(
    experiment: str,
    size: StudySize = StudySize(),
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
    data_root: str | os.PathLike | None = None,
    progress: Callable[[str], None] = print,
) -> list[Path]:
    """Study every trained ``quantum-L3`` model of ``experiment`` that has no complete study yet.

    Args:
        experiment: one of :data:`STUDIED_EXPERIMENTS`.
        size: test and training images, conditions and fine-tuning recipe.
        results_dir: where the runs are recorded and the study is written.
        data_root: the datasets' folder (default: ``$QPCONV_DATA``, else ``data/``).
        progress: receives one line per step.

    Returns:
        The folders of the studies written by this call.

    Raises:
        ValueError: ``experiment`` is not studied, or a subset size is out of range.
        DatasetNotFoundError: the dataset is not in ``data_root``.
    """
    if experiment not in STUDIED_EXPERIMENTS:
        raise ValueError(f"the device study covers {list(STUDIED_EXPERIMENTS)}, not {experiment!r}")
    todo = [
        (run, model)
        for run, model in trained_models(experiment, STUDIED_MODEL, results_dir, size.runs)
        if not (study_path(results_dir, size.name, experiment, run.config.seed) / STUDY_FILE).is_file()
    ]
    if not todo:
        return []
    data = load_dataset(get_experiment(experiment).dataset, root=data_root, download=False)
    test, train = _subset(data.test, size.test_images), _subset(data.train, size.train_images)
    written = []
    for run, model in todo:
        if not isinstance(model, HybridCNN):  # the studied experiments train the paper's CNN only
            raise TypeError(f"{run.path}: the device study needs the paper's hybrid CNN, not a {type(model).__name__}")
        seed, started = run.config.seed, time.perf_counter()
        folder = study_path(results_dir, size.name, experiment, seed)
        folder.mkdir(parents=True, exist_ok=True)
        progress(f"{experiment} seed {seed}: {len(size.conditions)} conditions on {len(test)} test images")
        test_features, test_labels = feature_maps(model, test.tensors[0]), test.tensors[1]
        scored = condition_accuracies(model, test_features, test_labels, size.conditions, seed)
        _write_csv(folder / CONDITIONS_FILE, scored)
        as_trained = {condition: row["accuracy"] for condition, row in zip(size.conditions, scored, strict=True)}
        progress(f"{experiment} seed {seed}: noise-aware fine-tuning on {len(train)} training images")
        train_features, train_labels = feature_maps(model, train.tensors[0]), train.tensors[1]
        clean = fine_tune_top(model, train_features, train_labels, None, seed, size.fine_tuning)
        rows: list[dict[str, object]] = []
        for p in size.noise_aware:
            noisy = DeviceCondition(depolarizing=p)
            tuned = fine_tune_top(model, train_features, train_labels, noisy.noise, seed, size.fine_tuning)
            if noisy not in as_trained:  # not among the study's conditions: score the model as trained too
                (row,) = condition_accuracies(model, test_features, test_labels, (noisy,), seed)
                as_trained[noisy] = row["accuracy"]
            rows.append({"depolarizing": p, "fine_tuning": FineTuned.NONE.value, "accuracy": as_trained[noisy]})
            for which, candidate in ((FineTuned.NOISELESS, clean), (FineTuned.NOISY, tuned)):
                (row,) = condition_accuracies(candidate, test_features, test_labels, (noisy,), seed)
                rows.append({"depolarizing": p, "fine_tuning": which.value, "accuracy": row["accuracy"]})
        _write_csv(folder / NOISE_AWARE_FILE, rows)
        with atomic_write(folder / STUDY_FILE) as file:
            json.dump(
                {
                    "experiment": experiment,
                    "model": STUDIED_MODEL,
                    "seed": seed,
                    "run": os.path.relpath(run.path, results_dir),
                    "test_images": len(test),
                    "train_images": len(train),
                    "fine_tuning": dataclasses.asdict(size.fine_tuning),
                    "seconds": round(time.perf_counter() - started, 1),
                    "versions": library_versions(),
                },
                file,
                indent=2,
                sort_keys=True,
            )
            file.write("\n")
        written.append(folder)
    return written


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise DamagedRunError(path, f"cannot be read ({type(error).__name__})") from None
    if list(table.columns) != columns:
        raise DamagedRunError(path, f"has columns {list(table.columns)}, expected {columns}")
    if not table["accuracy"].between(0, 1).all():
        raise DamagedRunError(path, "has an accuracy outside [0, 1]")
    return table


def read_studies(results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR, preset: str = "full") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every complete study under ``<results>/device_study/<preset>/``: ``(conditions, noise-aware)`` tables.

    Both tables have the columns of their files and ``experiment``, ``seed`` in front; an
    incomplete study (no ``study.json``) is left out.

    Raises:
        DamagedRunError: a study's file cannot be read or does not hold what it should (named by its path).
    """
    conditions, noise_aware = [], []
    for experiment in STUDIED_EXPERIMENTS:
        folder = Path(results_dir) / STUDY / preset / experiment
        for study in sorted(folder.glob("seed*")) if folder.is_dir() else []:
            if not (study / STUDY_FILE).is_file() or not study.name[4:].isdigit():
                continue
            key = {"experiment": experiment, "seed": int(study.name[4:])}
            conditions.append(_read_csv(study / CONDITIONS_FILE, CONDITION_COLUMNS).assign(**key))
            noise_aware.append(_read_csv(study / NOISE_AWARE_FILE, NOISE_AWARE_COLUMNS).assign(**key))
    front = ["experiment", "seed"]

    def table(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
        if not parts:
            return pd.DataFrame(columns=front + columns)
        joined = pd.concat(parts, ignore_index=True)
        return joined[front + columns]

    return table(conditions, CONDITION_COLUMNS), table(noise_aware, NOISE_AWARE_COLUMNS)


def summarise_conditions(conditions: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy in percent per experiment and condition: mean, standard deviation over seeds, seeds.

    Args:
        conditions: the first table of :func:`read_studies`.

    Returns:
        Indexed by ``experiment, kind, shots, depolarizing`` (``shots`` 0 for exact
        expectations), columns ``mean``, ``sd`` (NaN for one seed), ``seeds``.
    """
    keyed = conditions.assign(shots=conditions["shots"].fillna(0).astype(int), accuracy=100 * conditions["accuracy"])
    grouped = keyed.groupby(["experiment", "kind", "shots", "depolarizing"], sort=False)["accuracy"]
    return grouped.agg(mean="mean", sd="std", seeds="count")


def tolerated(summary: pd.DataFrame, experiment: str, kind: ConditionKind, points: float = 1.0) -> float | None:
    """The device condition of ``kind`` that costs at most ``points`` of mean test accuracy, at its limit.

    Args:
        summary: :func:`summarise_conditions`.
        experiment: e.g. ``"fig6_7"``.
        kind: ``ConditionKind.SHOTS``: the fewest shots within
            ``points`` of the exact accuracy; ``ConditionKind.DEPOLARIZING``:
            the largest ``p`` within ``points`` (every smaller ``p`` also within).
        points: accuracy points that may be lost.

    Returns:
        The shots or ``p``; ``None`` when no condition of ``kind`` is within ``points``, or
        ``experiment`` has no exact row.

    Raises:
        ValueError: ``kind`` is neither shots nor depolarising noise.
    """
    if kind not in (ConditionKind.SHOTS, ConditionKind.DEPOLARIZING):
        raise ValueError(f"tolerated compares shots or depolarising noise, not {kind.value!r}")
    measured = summary.index.droplevel([2, 3])  # (experiment, kind)
    if (experiment, ConditionKind.EXACT.value) not in measured or (experiment, kind.value) not in measured:
        return None
    exact = float(summary.loc[(experiment, ConditionKind.EXACT.value)]["mean"].iloc[0])
    rows = summary.loc[(experiment, kind.value)]
    level = "shots" if kind is ConditionKind.SHOTS else "depolarizing"
    means = rows["mean"].groupby(level=level).mean().sort_index(ascending=kind is ConditionKind.DEPOLARIZING)
    if kind is ConditionKind.SHOTS:
        within = [shots for shots, mean in means.items() if exact - mean <= points]
        return float(min(within)) if within else None
    last = None
    for p, mean in means.items():
        if exact - mean > points:
            break
        last = float(p)
    return last
