"""The paper's experiments by name, their presets, and a resumable runner.

Book: Replicating Figs. 4-5, Replicating Figs. 6-7, Replicating Fig. 8.

Experiments
    ``fig4_5``           Fashion-MNIST: quantum (``L = 3``) vs classical pointwise block.
    ``fig6_7``           CIFAR-10: quantum (``L = 3``) vs classical.
    ``fig8``             CIFAR-10: quantum with ``L = 1, 2, 3, 4`` vs classical.
    ``controls``         CIFAR-10: the quantum block against ten controls ("What makes it work?").
    ``controls_fmnist``  Fashion-MNIST: the quantum block against four of them.
    ``architectures``    CIFAR-10: MobileNetV2 and a bottleneck ResNet, classical vs quantum-swapped.

Shared runs are computed once
    A run is identified by (dataset, model, preset, seed) and stored under the *first*
    experiment of :data:`EXPERIMENTS` that contains its dataset and model: CIFAR-10
    ``quantum-L3`` and ``classical`` live in ``results/fig6_7/``, and ``fig8`` reads them
    from there; only ``quantum-L1``, ``-L2`` and ``-L4`` are stored under ``results/fig8/``.
    :func:`plan_runs` and :func:`load_runs` resolve this, so callers never need to.

A run is *complete* when its ``config.json`` says so (:class:`~qpconv.replication.results.RunStatus`);
the runner skips complete runs, resumes runs with a checkpoint, and starts the others. A run
that diverges is recorded as ``diverged`` and skipped afterwards (``restart=True`` trains it
again). One process trains a run at a time (:mod:`~qpconv.replication.locks`), and a run that
fails (a damaged or foreign checkpoint, a run locked by another process) is reported without
stopping the others: :func:`run_experiment` returns a :class:`RunReport` per run.

Where the runs train is an executor's business (:mod:`~qpconv.replication.executors`): one
after another in this process, or as tasks on a Ray cluster; both run :class:`RunTrainer`.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..registry import lookup
from .architectures import NETWORKS, build_network
from .datasets import DatasetSpec, get_dataset_spec
from .executors import DEFAULT_CHECKPOINT_DIR, Executor, LocalExecutor, ReportKind, RunReport, RunSink
from .loading import LoadedDataset, load_dataset, make_loaders, stratified_split, stratified_subset
from .locks import RunLockedError, run_lock
from .models import build_model, circuit_settings, parameter_summary
from .recipe import TrainingRecipe
from .results import (
    MODEL_FILE,
    DamagedRunError,
    Divergence,
    RunConfig,
    RunOutcome,
    RunRecord,
    RunState,
    RunStatus,
    describe_device,
    inspect_run,
    library_versions,
    read_model,
    read_run,
    recorded_seeds,
    run_path,
    write_model,
)
from .training import (
    CheckpointMismatchError,
    DamagedCheckpointError,
    TrainingDiverged,
    load_checkpoint,
    seed_everything,
    train,
)

__all__ = [
    "DEFAULT_CHECKPOINT_DIR",
    "DEFAULT_RESULTS_DIR",
    "EXPERIMENTS",
    "FULL",
    "PRESETS",
    "QUICK",
    "SUBSET_SEED",
    "TUNE",
    "DamagedRunWarning",
    "Experiment",
    "ModelVariant",
    "Preset",
    "ReportKind",
    "RunReport",
    "RunSpec",
    "RunTrainer",
    "custom_preset",
    "get_experiment",
    "get_preset",
    "keep_trained_model",
    "load_runs",
    "plan_runs",
    "run_experiment",
    "trained_models",
    "validate_seeds",
]

DEFAULT_RESULTS_DIR = Path("results")
CHECKPOINT_FILE = "checkpoint.pt"
SUBSET_SEED = 0
"""Seed of the stratified subsets of reduced presets, so that every model and seed sees the same images."""


class DamagedRunWarning(UserWarning):
    """A recorded run was skipped because its files are damaged; the message names the file and the reason."""


@dataclass(frozen=True)
class ModelVariant:
    """One model of an experiment: the pointwise block's kind and, if it has circuits, their depth ``L``.

    Attributes:
        kind: a pointwise block of :data:`~qpconv.replication.models.POINTWISE_BLOCKS` (in the
            paper's CNN), or a network of :data:`~qpconv.replication.architectures.NETWORKS`.
        n_layers: entangling blocks per circuit (models with circuits only; ``None`` otherwise).
        more_seeds: also run the preset's ``extra_seeds`` (for the comparisons that need
            more than three seeds); not part of the variant's identity.
    """

    kind: str
    n_layers: int | None = None
    more_seeds: bool = dataclasses.field(default=False, compare=False)

    @property
    def name(self) -> str:
        """``"<kind>-L<n_layers>"`` or ``"<kind>"``: the run folder's name."""
        return self.kind if self.n_layers is None else f"{self.kind}-L{self.n_layers}"

    def build(self, dataset: str) -> nn.Module:
        """A freshly initialised model of this variant for ``dataset``: images ``(N, C, H, W)`` -> logits."""
        if self.kind in NETWORKS:
            return build_network(dataset, self.kind, n_layers=self.n_layers)
        return build_model(dataset, self.kind, n_layers=self.n_layers)


QUANTUM_L3 = ModelVariant("quantum", 3)
CLASSICAL = ModelVariant("classical")

_CONTROLS = (
    ModelVariant("quantum", 3, more_seeds=True),
    ModelVariant("classical", more_seeds=True),
    ModelVariant("linear", more_seeds=True),
    ModelVariant("classical-nobn"),
    ModelVariant("classical-matched"),
    ModelVariant("normalised-linear"),
    ModelVariant("normalised-quadratic", more_seeds=True),
    ModelVariant("unitary-relaxation"),
    ModelVariant("frozen", 3),
    ModelVariant("product", 3),
    ModelVariant("none"),
)
"""The blocks of ``controls``: five seeds (with the full preset's ``extra_seeds``) for the comparisons at the heart of
the chapter, three for the rest."""


@dataclass(frozen=True)
class Experiment:
    """A named experiment: one dataset, the models compared on it, the figures it replicates."""

    name: str
    dataset: str
    variants: tuple[ModelVariant, ...]
    description: str


EXPERIMENTS: dict[str, Experiment] = {
    "fig4_5": Experiment(
        "fig4_5", "fashion-mnist", (QUANTUM_L3, CLASSICAL), "Figs. 4-5: Fashion-MNIST, quantum L=3 vs classical"
    ),
    "fig6_7": Experiment("fig6_7", "cifar10", (QUANTUM_L3, CLASSICAL), "Figs. 6-7: CIFAR-10, quantum L=3 vs classical"),
    "fig8": Experiment(
        "fig8",
        "cifar10",
        (*(ModelVariant("quantum", n) for n in (1, 2, 3, 4)), CLASSICAL),
        "Fig. 8: CIFAR-10, quantum L=1,2,3,4 vs classical",
    ),
    "controls": Experiment(
        "controls", "cifar10", _CONTROLS, "What makes it work? CIFAR-10: the quantum block against ten controls"
    ),
    "controls_fmnist": Experiment(
        "controls_fmnist",
        "fashion-mnist",
        tuple(  # three seeds each: the five-seed comparisons are CIFAR-10's
            dataclasses.replace(v, more_seeds=False)
            for v in _CONTROLS
            if v.kind in ("quantum", "classical", "linear", "normalised-quadratic", "frozen")
        ),
        "What makes it work? Fashion-MNIST: the quantum block against four controls",
    ),
    "architectures": Experiment(
        "architectures",
        "cifar10",
        (
            ModelVariant("mobilenetv2-classical"),
            ModelVariant("mobilenetv2-quantum", 3),
            ModelVariant("resnet-classical"),
            ModelVariant("resnet-quantum", 3),
        ),
        "Beyond the paper's CNN: CIFAR-10, MobileNetV2 and a bottleneck ResNet, classical vs quantum-swapped",
    ),
}
"""The experiments by name (``qpconv run EXPERIMENT``): the paper's three, the controls of "What makes it work?" and
the standard networks of "Beyond the paper's CNN"."""


@dataclass(frozen=True)
class Preset:
    """How much data and training an experiment's runs get.

    Attributes:
        name: ``"quick"``, ``"full"``, or a name derived from custom values.
        recipe: the training recipe (epochs, learning rate, ...).
        train_size, test_size: stratified subset sizes (drawn with :data:`SUBSET_SEED`),
            or ``None`` for the whole split.
        seeds: seeds run when none are given.
        description: one line for ``qpconv list``.
        extra_seeds: run too, when no seeds are given, for variants with ``more_seeds``.
        validation_size: when set, a stratified split of this size is carved from the
            training set (with :data:`SUBSET_SEED`), the runs train on the rest and evaluate
            on it instead of the test set (tuning; the config says ``evaluated_on``).
    """

    name: str
    recipe: TrainingRecipe
    train_size: int | None
    test_size: int | None
    seeds: tuple[int, ...]
    description: str
    extra_seeds: tuple[int, ...] = ()
    validation_size: int | None = None


QUICK = Preset(
    "quick",
    TrainingRecipe(epochs=2),
    train_size=4000,
    test_size=1000,
    seeds=(0,),
    description="2 epochs on 4,000 training / 1,000 test images (stratified, same for all runs), seed 0",
)
"""The quick preset, which checks the whole pipeline and draws every figure in minutes on a CPU.

2 epochs on a stratified subset of 4,000 training and 1,000 test images, seed 0. Each
whole experiment (``fig8``: five CIFAR-10 models) takes at most about 3 minutes on two
CPU cores. Curves from it show the mechanics, not the paper's accuracies.
"""

FULL = Preset(
    "full",
    TrainingRecipe(epochs=20),
    train_size=None,
    test_size=None,
    seeds=(0, 1, 2),
    description="20 epochs on the whole datasets, seeds 0 1 2 (and 3 4 for the controls' main comparisons): the paper's recipe",
    extra_seeds=(3, 4),
)
"""The full preset, the paper's recipe on the whole training and test sets, seeds 0, 1, 2.

The paper does not state its number of epochs. 20 epochs keep every run affordable
without a GPU: measured on this project's 2-core CPU with one torch thread, a full
Fashion-MNIST epoch takes about 2 minutes for the quantum model and 1 for the
classical one (the book's "How to run" page lists the measured hours per run). The
Replication notes say what the recorded curves show about this choice.
"""

TUNE = Preset(
    "tune",
    TrainingRecipe(epochs=20),
    train_size=None,
    test_size=None,
    seeds=(0,),
    description="the full recipe on 45,000 training images, evaluated on 5,000 held out from the training set, seed 0",
    validation_size=5000,
)
"""The tuning preset, to choose a learning rate on a validation split carved from the training set, never the test set."""

PRESETS: dict[str, Preset] = {preset.name: preset for preset in (QUICK, FULL, TUNE)}
"""The named presets (``qpconv run --preset NAME``), :data:`QUICK`, :data:`FULL` and :data:`TUNE`."""


def custom_preset(
    base: Preset,
    *,
    epochs: int | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    lr: float | None = None,
) -> Preset:
    """``base`` with some values changed, named after all its values so that runs of different values never mix.

    The name is ``e<epochs>-train<size or all>-test<size or all>-lr<lr>``, e.g.
    ``e5-train8000-testall-lr0.003``; when the values are exactly those of a preset of
    :data:`PRESETS`, that preset is returned instead. Seeds are the base's.

    Raises:
        ValueError: a value out of range.
    """
    for name, size in (("train_size", train_size), ("test_size", test_size)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 10):
            raise ValueError(f"{name} must be an integer of at least 10 (one image per class), got {size!r}")
    recipe = dataclasses.replace(
        base.recipe, epochs=base.recipe.epochs if epochs is None else epochs, lr=base.recipe.lr if lr is None else lr
    )
    train_images = base.train_size if train_size is None else train_size
    test_images = base.test_size if test_size is None else test_size
    for known in PRESETS.values():
        values = (recipe, train_images, test_images, base.validation_size)
        if (known.recipe, known.train_size, known.test_size, known.validation_size) == values:
            return known
    evaluation = f"val{base.validation_size}" if base.validation_size else f"test{test_images or 'all'}"
    name = f"e{recipe.epochs}-train{train_images or 'all'}-{evaluation}-lr{recipe.lr:g}"
    description = (
        f"{recipe.epochs} epochs on {train_images or 'all'} training images, evaluated on {evaluation}, lr {recipe.lr:g}"
    )
    return Preset(name, recipe, train_images, test_images, base.seeds, description, base.extra_seeds, base.validation_size)


@dataclass(frozen=True)
class RunSpec:
    """One training run: where it is stored and what it trains.

    Attributes:
        experiment: the experiment that stores it (the first one containing it, see module docstring).
        preset: the preset.
        dataset: dataset name.
        variant: the model.
        seed: the run's seed (weights, dropout, shuffling).
    """

    experiment: str
    preset: Preset
    dataset: str
    variant: ModelVariant
    seed: int

    def results_dir(self, results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR) -> Path:
        """``<results_dir>/<experiment>/<preset>/<model>/seed<k>``."""
        return run_path(results_dir, self.experiment, self.preset.name, self.variant.name, self.seed)

    def checkpoint_path(self, checkpoint_dir: str | os.PathLike = DEFAULT_CHECKPOINT_DIR) -> Path:
        """``<checkpoint_dir>/<experiment>/<preset>/<model>/seed<k>/checkpoint.pt``."""
        return run_path(checkpoint_dir, self.experiment, self.preset.name, self.variant.name, self.seed) / CHECKPOINT_FILE

    def __str__(self) -> str:
        return f"{self.experiment}/{self.preset.name}/{self.variant.name}/seed{self.seed}"


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    return lookup(EXPERIMENTS, name, "experiment")


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    return lookup(PRESETS, name, "preset")


def validate_seeds(seeds: Iterable[Any]) -> tuple[int, ...]:
    """Check a seed list: non-empty, non-negative integers, no duplicates.

    Returns:
        The seeds as a tuple, in the given order.

    Raises:
        ValueError: empty list, a seed that is not a non-negative integer, or a repeated seed.
    """
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("the seed list is empty; expected at least one non-negative integer")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed {seed!r} is not a non-negative integer")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ValueError(f"seeds must be distinct; repeated: {repeated}")
    return seeds


def _storage_experiment(dataset: str, variant: ModelVariant) -> str:
    """The first experiment that contains (dataset, variant): where its runs are stored."""
    return next(e.name for e in EXPERIMENTS.values() if e.dataset == dataset and variant in e.variants)


def plan_runs(
    experiment: str, preset: str | Preset, seeds: Iterable[int] | None = None, models: Iterable[str] | None = None
) -> list[RunSpec]:
    """All runs of ``experiment`` under ``preset``: every model for every seed.

    Args:
        experiment: name in :data:`EXPERIMENTS`.
        preset: a :class:`Preset`, or the name of one in :data:`PRESETS`.
        seeds: default the preset's seeds (plus its ``extra_seeds`` for variants with ``more_seeds``).
        models: only these models (run folder names, e.g. ``"quantum-L3"``); default all.

    Raises:
        ValueError: unknown experiment, preset or model, a bad seed list, or a subset larger
            than the split it is drawn from.
    """
    spec = get_experiment(experiment)
    chosen = get_preset(preset) if isinstance(preset, str) else preset
    _check_sizes(chosen, get_dataset_spec(spec.dataset))
    given = None if seeds is None else validate_seeds(seeds)
    variants = spec.variants
    if models is not None:
        names = {variant.name: variant for variant in spec.variants}
        variants = tuple(lookup(names, model, f"model of {experiment}") for model in dict.fromkeys(models))
    runs = []
    for variant in variants:
        variant_seeds = given or chosen.seeds + (chosen.extra_seeds if variant.more_seeds else ())
        storage = _storage_experiment(spec.dataset, variant)
        runs += [RunSpec(storage, chosen, spec.dataset, variant, seed) for seed in validate_seeds(variant_seeds)]
    return runs


def _check_sizes(preset: Preset, dataset: DatasetSpec) -> None:
    """A preset's subsets fit the splits they are drawn from (known without loading the data)."""
    held_out = preset.validation_size or 0
    splits = (
        ("train_size", preset.train_size, dataset.train_images - held_out, "training images"),
        ("test_size", preset.test_size, held_out or dataset.test_images, "validation images" if held_out else "test images"),
    )
    for name, size, available, what in splits:
        if size is not None and size > available:
            raise ValueError(f"{name} {size} is more than the {available:,} {what} of {dataset.title}")


def _subset(split: TensorDataset, size: int | None) -> TensorDataset:
    return split if size is None else stratified_subset(split, size, SUBSET_SEED)


def _splits(data: LoadedDataset, preset: Preset) -> tuple[TensorDataset, TensorDataset]:
    """The training split and the split evaluated after every epoch (the test set, or a validation split)."""
    if preset.validation_size is None:
        return data.train, data.test
    return stratified_split(data.train, preset.validation_size, SUBSET_SEED)


def _run_config(run: RunSpec, data: LoadedDataset, model: nn.Module) -> RunConfig:
    """What a run trains and on what, read from the preset, the data and the built model."""
    preset = run.preset
    train_split, evaluation = _splits(data, preset)
    return RunConfig(
        experiment=run.experiment,
        preset=preset.name,
        model=run.variant.name,
        seed=run.seed,
        dataset=run.dataset,
        dataset_copy=data.copy,
        train_size=preset.train_size or len(train_split),
        test_size=preset.test_size or len(evaluation),
        subset_seed=SUBSET_SEED if preset.train_size or preset.test_size or preset.validation_size else None,
        augmentation=None,
        model_kind=run.variant.kind,
        **circuit_settings(model),
        parameters=parameter_summary(model),
        recipe=preset.recipe,
        evaluated_on="test" if preset.validation_size is None else "validation",
    )


def _execute(
    run: RunSpec, data: LoadedDataset, sink: RunSink, checkpoint_dir: Path, device: torch.device, progress: bool
) -> None:
    """Train one run (resuming its checkpoint if any) and send ``sink`` its results after every epoch.

    A divergence is recorded as such (``status: diverged`` with its epoch and reason) before
    :class:`~qpconv.replication.training.TrainingDiverged` propagates.
    """
    recipe = run.preset.recipe
    seed_everything(run.seed)
    model = run.variant.build(run.dataset)
    train_split, evaluation = _splits(data, run.preset)
    train_loader, test_loader = make_loaders(
        _subset(train_split, run.preset.train_size),
        _subset(evaluation, run.preset.test_size),
        seed=run.seed,
        train_batch_size=recipe.train_batch_size,
        test_batch_size=recipe.test_batch_size,
    )
    config = _run_config(run, data, model)
    device_name, versions = describe_device(device), library_versions()
    memory_format = torch.channels_last  # faster on CPUs, equal up to rounding (qpconv.replication.training)

    def save(metrics: list[dict[str, float]], divergence: Divergence | None = None) -> None:
        if divergence is not None:
            status = RunStatus.DIVERGED
        else:
            status = RunStatus.COMPLETE if len(metrics) == recipe.epochs else RunStatus.RUNNING
        wall_seconds = round(sum(row["seconds"] for row in metrics), 3)
        outcome = RunOutcome(status, len(metrics), wall_seconds, device_name, versions, divergence, str(memory_format))
        sink.write_run(config, outcome, metrics)

    try:
        metrics = train(
            model,
            train_loader,
            test_loader,
            recipe,
            device=device,
            checkpoint_path=run.checkpoint_path(checkpoint_dir),
            run_tag=config.to_json(),
            on_epoch_end=save,
            progress=progress,
            memory_format=memory_format,
        )
    except TrainingDiverged as diverged:
        save(diverged.metrics, Divergence(diverged.epoch, diverged.reason))
        raise
    if circuit_settings(model)["ansatz"] is not None:  # kept to study the trained circuits (under noise) later
        sink.write_model(model.state_dict())
    save(metrics)


def _move_aside(checkpoint: Path) -> Path | None:
    """Rename a checkpoint to ``checkpoint.pt.moved-<time>``; the new path, or None when there was none."""
    if not checkpoint.is_file():
        return None
    target = checkpoint.with_name(f"{checkpoint.name}.moved-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(checkpoint, target)
    return target


def run_experiment(
    experiment: str,
    preset: str | Preset = "quick",
    seeds: Iterable[int] | None = None,
    *,
    models: Iterable[str] | None = None,
    device: str | None = None,
    data_root: str | os.PathLike | None = None,
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    restart: bool = False,
    log: Callable[[str], None] = print,
    executor: Executor | None = None,
) -> list[RunReport]:
    """Run every model of ``experiment`` for every seed: skip complete runs, resume interrupted ones.

    Book: Replicating Figs. 4-5.

    Each run writes ``metrics.csv`` and ``config.json`` after every epoch (see
    :mod:`~qpconv.replication.results`). Checkpoints are written after every epoch and
    kept after completion: they hold the trained model (``checkpoint["model"]``) and cost
    a few MB each; deleting them is safe once a run is complete. A run whose recorded
    files are damaged is treated as incomplete: it resumes from its checkpoint, or
    retrains. A run that diverges is recorded as such and skipped on later calls. One
    run's failure never stops the others: each run gets a :class:`RunReport`.

    Args:
        experiment: name in :data:`EXPERIMENTS`.
        preset: a :class:`Preset`, or the name of one in :data:`PRESETS`.
        seeds: default the preset's seeds.
        models: only these models of the experiment (run folder names); default all.
        device: ``"cpu"``, ``"cuda"``, ...; default CUDA when available (to the executor).
        data_root: see :func:`~qpconv.replication.datasets.resolve_data_root`.
        results_dir: root of the results layout.
        checkpoint_dir: root of the checkpoint layout; default the executor's
            (:data:`~qpconv.replication.executors.DEFAULT_CHECKPOINT_DIR` for the local one).
        progress: tqdm bars; default when stdout is a terminal and ``$CI`` is unset.
        restart: train every run that is not complete from its first epoch, moving its
            checkpoint aside (``checkpoint.pt.moved-<time>``) first; complete runs are kept.
        log: receives one line per run, and the lines of the runs' training.
        executor: where the runs train (:mod:`~qpconv.replication.executors`); default
            one after another in this process.

    Returns:
        A report per run, in plan order (including skipped, shared ones).

    Raises:
        ValueError: unknown experiment or preset, bad seeds, CUDA asked for but missing.
        qpconv.replication.loading.DatasetNotFoundError: the dataset is missing and cannot be downloaded.
    """
    runs = plan_runs(experiment, preset, seeds, models)
    executor = executor or LocalExecutor()
    torch_device = executor.resolve_device(device)
    results_dir = Path(results_dir)
    reports: dict[RunSpec, RunReport] = {}
    to_train = []
    for run in runs:
        folder = run.results_dir(results_dir)
        found = inspect_run(folder)
        if found.damage is not None:
            log(f"{run}: {found.damage}; treated as incomplete")
        if found.state is RunState.COMPLETE:
            reports[run] = RunReport(run, folder, ReportKind.SKIPPED, f"{run}: complete, skipped")
        elif found.state is RunState.DIVERGED and not restart:
            message = f"{run}: diverged in {found.divergence}, skipped; --restart trains it again"
            reports[run] = RunReport(run, folder, ReportKind.DIVERGED, message)
        else:
            to_train.append(run)
            continue
        log(reports[run].message)
    if to_train:
        data = load_dataset(runs[0].dataset, data_root)
        checkpoints = None if checkpoint_dir is None else Path(checkpoint_dir)
        for report in executor.train(RunTrainer(restart), to_train, data, results_dir, checkpoints, torch_device, progress, log):
            reports[report.run] = report
            log(report.message)
    folders = sorted({str(run.results_dir(results_dir).parents[1]) for run in runs})
    log(f"results of {experiment} ({runs[0].preset.name}) are in: {', '.join(folders)}")
    return [reports[run] for run in runs]


@dataclass(frozen=True)
class RunTrainer:
    """The per-run code of every executor (:data:`~qpconv.replication.executors.Trainer`): train one run, say how it went.

    Attributes:
        restart: move the run's checkpoint aside first, training it from its first epoch.
    """

    restart: bool = False

    def __call__(
        self, run: RunSpec, data: LoadedDataset, sink: RunSink, checkpoint_dir: Path, device: torch.device, progress: bool
    ) -> RunReport:
        """Train ``run`` under its lock, its results and log lines to ``sink``; a run's own failure is reported, not raised.

        Args:
            run: the run.
            data: its dataset, loaded.
            sink: receives the log lines and the results after every epoch.
            checkpoint_dir: root of the checkpoint layout (and of the run's lock).
            device: where to train.
            progress: tqdm bars over epochs and batches.

        Returns:
            ``trained``, ``diverged`` (recorded as such), or ``failed`` with the reason.
        """
        checkpoint = run.checkpoint_path(checkpoint_dir)
        try:
            with run_lock(checkpoint.parent, str(run)):
                moved = _move_aside(checkpoint) if self.restart else None
                if moved is not None:
                    sink.log(f"{run}: --restart: moved the checkpoint aside to {moved}")
                sink.log(f"{run}: {'resuming' if checkpoint.is_file() else 'training'} on {describe_device(device)}")
                _execute(run, data, sink, checkpoint_dir, device, progress)
        except TrainingDiverged as diverged:
            return RunReport(run, sink.folder, ReportKind.DIVERGED, f"{run}: {diverged}; recorded as diverged")
        except (DamagedCheckpointError, CheckpointMismatchError, RunLockedError) as error:
            return RunReport(run, sink.folder, ReportKind.FAILED, f"{run}: {error}")
        return RunReport(run, sink.folder, ReportKind.TRAINED, f"{run}: complete")


def keep_trained_model(run_dir: str | os.PathLike, checkpoint: str | os.PathLike) -> Path:
    """Write ``model.pt`` for a complete recorded run from the checkpoint its training left; its path.

    For runs recorded before :func:`run_experiment` kept their models. The checkpoint is
    the run's only if it holds every recorded epoch with the recorded metrics (all
    columns but the wall time ``seconds``), so a checkpoint of another run, or of an
    unfinished one, is refused.

    Raises:
        ValueError: the run is not complete, or the checkpoint's metrics are not the run's.
        FileNotFoundError: no run in ``run_dir``.
        DamagedRunError, DamagedCheckpointError: a file cannot be read.
    """
    record = read_run(run_dir)
    if record is None:
        raise FileNotFoundError(f"no recorded run in {run_dir}")
    if not record.completed:
        raise ValueError(f"{run_dir}: the run is not complete ({record.outcome.status.value}); only complete runs keep models")
    state = load_checkpoint(Path(checkpoint), keys=("model", "metrics"))

    def without_time(rows: list[dict[str, float]]) -> list[dict[str, float]]:
        return [{key: value for key, value in row.items() if key != "seconds"} for row in rows]

    if without_time(state["metrics"]) != without_time(record.metrics):
        raise ValueError(f"{checkpoint} is not the checkpoint of {run_dir}: its metrics differ from the recorded ones")
    return write_model(record.path, state["model"])


def load_runs(
    experiment: str,
    preset: str,
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
    on_damaged: Callable[[DamagedRunError], None] | None = None,
) -> list[RunRecord]:
    """Every recorded run of ``experiment`` under ``preset``, for any seed, in any state.

    Book: Replicating Figs. 4-5.

    Runs shared with another experiment are read from where they are stored (module
    docstring). Runs come in the experiment's model order, then by seed. A run's
    ``completed``/``diverged`` tell its state. A run whose files are damaged is left
    out, so that one bad run never hides the others: ``on_damaged`` receives its error
    (default: a :class:`DamagedRunWarning` naming the file and the reason).

    Raises:
        ValueError: unknown experiment.
    """
    spec = get_experiment(experiment)
    records = []
    for variant in spec.variants:
        storage = _storage_experiment(spec.dataset, variant)
        for seed in recorded_seeds(results_dir, storage, preset, variant.name):
            try:
                record = read_run(run_path(results_dir, storage, preset, variant.name, seed))
            except DamagedRunError as error:
                if on_damaged is None:
                    warnings.warn(f"{error}; left out", DamagedRunWarning, stacklevel=2)
                else:
                    on_damaged(error)
                continue
            records += [record] if record is not None else []
    return records


def trained_models(
    experiment: str, model: str, results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR, preset: str = "full"
) -> list[tuple[RunRecord, nn.Module]]:
    """The recorded runs (of ``preset``) of ``model`` in ``experiment`` that kept their trained model, each with it loaded.

    Only complete runs keep a model (``model.pt``, runs with quantum circuits: see
    :mod:`~qpconv.replication.results`); the models are in eval mode, on the CPU.

    Raises:
        ValueError: unknown experiment or model.
        DamagedRunError: a ``model.pt`` cannot be read (named by its path).
    """
    variant = lookup({v.name: v for v in get_experiment(experiment).variants}, model, f"model of {experiment}")
    loaded = []
    for run in load_runs(experiment, preset, results_dir):
        if run.config.model != model or not run.completed or not (run.path / MODEL_FILE).is_file():
            continue
        network = variant.build(run.config.dataset)
        network.load_state_dict(read_model(run.path))
        loaded.append((run, network.eval()))
    return loaded
