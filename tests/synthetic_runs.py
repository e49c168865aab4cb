"""Synthetic run records for tests of the readers of results (claims, figures, listings)."""

from __future__ import annotations

from pathlib import Path

from qpconv.replication.recipe import TrainingRecipe
from qpconv.replication.results import Divergence, RunConfig, RunOutcome, RunRecord, RunStatus, run_path, write_run


def synthetic_run(
    model: str,
    seed: int,
    metrics: list[dict[str, float]],
    *,
    status: RunStatus = RunStatus.COMPLETE,
    parameters: int = 1000,
    epochs: int | None = None,
    experiment: str = "fig6_7",
    preset: str = "full",
    dataset_copy: str = "cifar10-jpeg-q75",
    device: str = "cpu: test",
) -> RunRecord:
    """A run of ``model`` with the given per-epoch ``metrics``; ``epochs`` defaults to ``len(metrics)``.

    A diverged run (``status``) says it diverged in its last epoch, at chance.
    """
    kind, _, depth = model.partition("-L")
    config = RunConfig(
        experiment=experiment,
        preset=preset,
        model=model,
        seed=seed,
        dataset="cifar10",
        dataset_copy=dataset_copy,
        train_size=100,
        test_size=100,
        subset_seed=None,
        augmentation=None,
        model_kind=kind,
        ansatz="strongly_entangling" if depth else None,
        n_layers=int(depth) if depth else None,
        parameters={"total": parameters, "quantum": 10 if kind == "quantum" else 0, "classical": parameters - 10},
        recipe=TrainingRecipe(epochs=epochs or max(1, len(metrics))),
    )
    divergence = Divergence(len(metrics), "at chance") if status is RunStatus.DIVERGED else None
    outcome = RunOutcome(status, len(metrics), sum(row["seconds"] for row in metrics), device, {"qpconv": "test"}, divergence)
    return RunRecord(Path("synthetic") / model / f"seed{seed}", config, outcome, metrics)


def write_synthetic_run(results_dir: Path, record: RunRecord) -> Path:
    """Write ``record`` where the runner stores its run under ``results_dir``; the run's folder."""
    config = record.config
    folder = run_path(results_dir, config.experiment, config.preset, config.model, config.seed)
    write_run(folder, config, record.outcome, record.metrics)
    return folder
