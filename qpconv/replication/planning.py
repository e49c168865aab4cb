"""What a sweep still has to train, and how long that takes at the pace of the runs already recorded.

Book: How to run (section "How long the full runs take").

``qpconv run EXPERIMENT ... --dry-run`` prints :func:`describe_plan` of :func:`plan_sweep`: every
run the command would consider, its state in the results folder, and the hours it still needs.

The estimate of a run is its epochs left times the median recorded seconds per training image of
its model (over every epoch of every recorded run of that model and dataset that did not
diverge, under any preset, e.g. the tuning runs for a full run at a new learning rate), times the
run's training images. The recorded seconds are wall times on whatever machine and load recorded
them, evaluation included: the estimate says how long the runs took here, not how long they take
on another machine.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .datasets import get_dataset_spec
from .experiments import DEFAULT_RESULTS_DIR, Preset, RunSpec, plan_runs
from .results import DamagedRunError, RunState, inspect_run, read_run, recorded_seeds, run_path

__all__ = ["PlannedRun", "describe_plan", "plan_sweep", "training_images"]


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep and the work it still needs.

    Attributes:
        run: the run.
        state: where it stands in the results folder (:func:`~qpconv.replication.results.inspect_run`).
        epochs_done: epochs recorded (0 for new and damaged runs).
        seconds_per_epoch: estimated wall seconds of one of its epochs, ``None`` when no run of its
            model and dataset is recorded to estimate from.
    """

    run: RunSpec
    state: RunState
    epochs_done: int
    seconds_per_epoch: float | None

    @property
    def epochs_left(self) -> int:
        """Epochs this run still trains (none for complete and diverged runs)."""
        if self.state in (RunState.COMPLETE, RunState.DIVERGED):
            return 0
        return self.run.preset.recipe.epochs - self.epochs_done

    @property
    def hours_left(self) -> float | None:
        """Estimated wall hours still needed (0 with no epochs left, ``None`` with no pace to estimate from)."""
        if self.epochs_left == 0:
            return 0.0
        return None if self.seconds_per_epoch is None else self.epochs_left * self.seconds_per_epoch / 3600


def training_images(run: RunSpec) -> int:
    """How many images ``run`` trains on per epoch: the preset's subset, or the training split less any validation split."""
    preset: Preset = run.preset
    if preset.train_size is not None:
        return preset.train_size
    return get_dataset_spec(run.dataset).train_images - (preset.validation_size or 0)


def _seconds_per_training_image(results_dir: Path, experiment: str, model: str, dataset: str) -> float | None:
    """Median recorded wall seconds per training image of ``model`` (stored under ``experiment``), over every preset."""
    paces = []
    for preset_folder in sorted(p for p in (results_dir / experiment).glob("*") if p.is_dir()):
        for seed in recorded_seeds(results_dir, experiment, preset_folder.name, model):
            try:
                record = read_run(run_path(results_dir, experiment, preset_folder.name, model, seed))
            except DamagedRunError:
                continue  # the run's own state reports it; a damaged neighbour just gives no pace
            if record is not None and not record.diverged and record.config.dataset == dataset:
                paces += [row["seconds"] / record.config.train_size for row in record.metrics]
    return statistics.median(paces) if paces else None


def plan_sweep(
    experiment: str,
    preset: str | Preset,
    seeds: Iterable[int] | None = None,
    models: Iterable[str] | None = None,
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
) -> list[PlannedRun]:
    """Every run of :func:`~qpconv.replication.experiments.plan_runs`, with its state and estimated time left.

    Book: How to run (section "How long the full runs take").

    Args:
        experiment, preset, seeds, models: as for :func:`~qpconv.replication.experiments.run_experiment`.
        results_dir: where the runs are recorded (read only).

    Returns:
        One :class:`PlannedRun` per run, in plan order.

    Raises:
        ValueError: as :func:`~qpconv.replication.experiments.plan_runs`.
    """
    results_dir = Path(results_dir)
    paces: dict[tuple[str, str, str], float | None] = {}  # one reading of a model's recorded runs for all its seeds
    planned = []
    for run in plan_runs(experiment, preset, seeds, models):
        found = inspect_run(run.results_dir(results_dir))
        key = (run.experiment, run.variant.name, run.dataset)
        if key not in paces:
            paces[key] = _seconds_per_training_image(results_dir, *key)
        pace = paces[key]
        planned.append(PlannedRun(run, found.state, found.epochs_done, None if pace is None else pace * training_images(run)))
    return planned


def describe_plan(plan: Sequence[PlannedRun]) -> list[str]:
    """Lines for a person: one per run, then the totals (what ``qpconv run --dry-run`` prints).

    Example lines::

        controls/full/linear/seed1  partial 11/20 epochs  9 left  ~0.19 h
        to train: 2 of 9 runs, 29 epochs, ~0.61 h on one core at the recorded pace
    """
    lines = []
    for item in plan:
        epochs = f"{item.epochs_done}/{item.run.preset.recipe.epochs} epochs"
        hours = item.hours_left
        estimate = "no recorded pace" if hours is None else f"~{hours:.2f} h"
        left = f"  {item.epochs_left} left  {estimate}" if item.epochs_left else ""
        lines.append(f"{item.run}  {item.state.value} {epochs}{left}")
    to_train = [item for item in plan if item.epochs_left]
    estimated = [item for item in to_train if item.hours_left is not None]
    unknown = sorted({item.run.variant.name for item in to_train if item.hours_left is None})
    total = (
        f"to train: {len(to_train)} of {len(plan)} runs, {sum(item.epochs_left for item in to_train)} epochs, "
        f"~{sum(item.hours_left or 0.0 for item in estimated):.2f} h on one core at the recorded pace"
    )
    if unknown:
        total += f" for {len(estimated)} of them; no recorded pace for {', '.join(unknown)}"
    lines.append(total)
    return lines
