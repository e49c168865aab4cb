"""The paper's models on a quantum computer: their quantum layers and recorded CPU epochs, for :mod:`qpconv.hardware_cost`.

Book: "On a real quantum computer".

The generic counting lives in the core (:mod:`qpconv.hardware_cost`); this module only
supplies the paper's facts: the quantum layers of the built Fig. 3 model (read by a
forward pass on one image of the dataset's size, never typed), the sizes of the
training and test sets and the CPU seconds per epoch recorded by the runs of an
experiment (``metrics.csv`` column ``seconds``: training plus test evaluation, the
whole model with the exact simulation).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ..hardware_cost import (
    QPU_PLATFORMS,
    AngleShifts,
    HardwareEstimate,
    ModelWork,
    QpuPlatform,
    WorkStage,
    hardware_estimate,
    model_work,
)
from .datasets import get_dataset_spec
from .experiments import DEFAULT_RESULTS_DIR, ModelVariant, get_experiment, load_runs

__all__ = [
    "RecordedEpochs",
    "circuit_table",
    "execution_table",
    "paper_hardware_estimate",
    "paper_model_work",
    "qpu_time_table",
    "recorded_epochs",
]

PAPER_MODEL = ModelVariant("quantum", 3)
"""The paper's quantum model, ``L = 3`` (the ``quantum-L3`` runs)."""


def paper_model_work(dataset: str, variant: ModelVariant = PAPER_MODEL) -> ModelWork:
    """The quantum layers of the model ``variant`` for ``dataset``, read from the built model.

    Book: "On a real quantum computer".

    Args:
        dataset: ``"fashion-mnist"`` or ``"cifar10"``.
        variant: a model with circuits.

    Returns:
        The :class:`~qpconv.hardware_cost.ModelWork` of one image of the dataset's size
        (normal random pixels; the signs of the layers' inputs are those seen on it).

    Raises:
        ValueError: unknown dataset, or a variant without quantum layers.
    """
    spec = get_dataset_spec(dataset)
    model = variant.build(dataset)
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, spec.channels, spec.image_size, spec.image_size, generator=generator)
    return model_work(model, image)


@dataclass(frozen=True)
class RecordedEpochs:
    """The CPU epochs recorded by the complete runs of one model of an experiment.

    Attributes:
        experiment, preset, model: which runs.
        runs: complete runs read.
        train_images, test_images: their training and test set sizes (the same in every run).
        seconds_per_epoch: median over every epoch of every run of ``metrics.csv``'s ``seconds``.
        fastest_epoch, slowest_epoch: the range of those seconds.
    """

    experiment: str
    preset: str
    model: str
    runs: int
    train_images: int
    test_images: int
    seconds_per_epoch: float
    fastest_epoch: float
    slowest_epoch: float


def recorded_epochs(
    experiment: str, preset: str = "full", model: str = PAPER_MODEL.name, results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR
) -> RecordedEpochs:
    """The CPU seconds per epoch of the complete recorded runs of ``model`` in ``experiment``.

    Book: "On a real quantum computer".

    Args:
        experiment: e.g. ``"fig6_7"`` (CIFAR-10) or ``"fig4_5"`` (Fashion-MNIST).
        preset: e.g. ``"full"``.
        model: a run folder name, e.g. ``"quantum-L3"``.
        results_dir: where the runs are stored.

    Returns:
        A :class:`RecordedEpochs`.

    Raises:
        ValueError: unknown experiment, no complete run of ``model``, or runs of different set sizes.
    """
    runs = [r for r in load_runs(experiment, preset, results_dir) if r.config.model == model and r.completed]
    where = Path(results_dir) / experiment / preset / model
    if not runs:
        raise ValueError(f"no complete run of {model!r} is recorded under {where}")
    sizes = {(r.config.train_size, r.config.test_size) for r in runs}
    if len(sizes) > 1:
        raise ValueError(f"the runs under {where} differ in (train_size, test_size): {sorted(sizes)}")
    (train_images, test_images), seconds = sizes.pop(), [row["seconds"] for r in runs for row in r.metrics]
    return RecordedEpochs(
        experiment, preset, model, len(runs), train_images, test_images, statistics.median(seconds), min(seconds), max(seconds)
    )


def paper_hardware_estimate(
    experiment: str,
    *,
    shots: int = 1000,
    preset: str = "full",
    shifts: AngleShifts = AngleShifts.ALL,
    platforms: Sequence[QpuPlatform] = QPU_PLATFORMS,
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
) -> tuple[HardwareEstimate, ModelWork, RecordedEpochs]:
    """What one epoch of the paper's quantum model of ``experiment`` would cost on QPUs, beside its recorded CPU epoch.

    Book: "On a real quantum computer".

    Args:
        experiment: ``"fig6_7"`` (CIFAR-10) or ``"fig4_5"`` (Fashion-MNIST).
        shots: shots per circuit execution.
        preset: whose recorded runs give the set sizes and CPU seconds.
        shifts: which trainable angles the parameter-shift rule shifts.
        platforms: the QPUs.
        results_dir: where the runs are stored.

    Returns:
        ``(estimate, the model's quantum layers, the recorded epochs)``.

    Raises:
        ValueError: unknown experiment, no complete quantum run recorded, or ``shots`` not a positive integer.
    """
    work = paper_model_work(get_experiment(experiment).dataset)
    recorded = recorded_epochs(experiment, preset, PAPER_MODEL.name, results_dir)
    estimate = hardware_estimate(
        work.layers,
        train_images=recorded.train_images,
        test_images=recorded.test_images,
        cpu_seconds_per_epoch=recorded.seconds_per_epoch,
        shots=shots,
        amplitudes=work.amplitudes,
        shifts=shifts,
        platforms=platforms,
    )
    return estimate, work, recorded


def circuit_table(estimate: HardwareEstimate) -> pd.DataFrame:
    """One row per quantum layer: the circuit of one pixel, decomposed into CNOTs and single-qubit gates.

    Book: "On a real quantum computer".
    """
    return pd.DataFrame(
        [
            {
                "qubits": cost.n_qubits,
                "L": cost.n_layers,
                "state preparation: 1-qubit gates": cost.encoding_one_qubit_gates,
                "state preparation: CNOTs": cost.encoding_cnots,
                "ansatz: 1-qubit gates": cost.ansatz_one_qubit_gates,
                "ansatz: CNOTs": cost.ansatz_cnots,
                "all gates": cost.gates,
                "depth": cost.depth,
            }
            for cost in estimate.costs
        ]
    ).set_index("qubits")


def execution_table(estimate: HardwareEstimate) -> pd.DataFrame:
    """Circuit executions and shots of each stage (forward pass of one image, test set, training epoch).

    Book: "On a real quantum computer".
    """
    return pd.DataFrame(
        [
            {
                "stage": stage.stage.value,
                "images": stage.images,
                **{f"executions, layer {k + 1}": count for k, count in enumerate(stage.per_layer)},
                "executions": stage.executions,
                "shots": stage.shots,
            }
            for stage in estimate.stages
        ]
    ).set_index("stage")


def qpu_time_table(estimate: HardwareEstimate) -> pd.DataFrame:
    """Per platform: QPU time of one image, of the test set and of a training epoch, and the epoch's slowdown over the CPU.

    Book: "On a real quantum computer". Queueing is excluded: these are lower bounds of wall time.
    """
    rows: dict[str, dict[str, object]] = {}
    for time in estimate.times:
        row = rows.setdefault(time.platform.name, {"technology": time.platform.technology})
        stage = time.executions.stage
        if stage is WorkStage.FORWARD_PASS:
            row["one image (s)"] = time.seconds
        elif stage is WorkStage.TEST_EVALUATION:
            row["test set (days)"] = time.days
        else:
            row["training epoch (years)"] = time.years
            row["epoch / CPU epoch"] = estimate.slowdown(time)
            row["source"] = time.platform.source_url
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("platform")
