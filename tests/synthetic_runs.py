"""Synthetic run records for tests of the readers of results (claims, figures, listings)."""

from __future__ import annotations

from pathlib import Path

from qpconv.replication.recipe import TrainingRecipe
from qpconv.replication.results import RunConfig, RunOutcome, RunRecord, RunStatus


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
    """A run of ``model`` with the given per-epoch ``metrics``; ``epochs`` defaults to ``len(metrics)``."""
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
    outcome = RunOutcome(status, len(metrics), sum(row["seconds"] for row in metrics), device, {"qpconv": "test"})
    return RunRecord(Path("synthetic") / model / f"seed{seed}", config, outcome, metrics)
