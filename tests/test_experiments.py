"""Experiment runner: run plans, shared runs, seeds, a real tiny run end to end, skipping and reading back."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import TensorDataset

from qpconv.replication import experiments
from qpconv.replication.experiments import Preset, load_runs, plan_runs, run_experiment, validate_seeds
from qpconv.replication.recipe import TrainingRecipe
from qpconv.replication.results import METRIC_FIELDS, metrics_table


def test_fig8_reuses_the_cifar10_runs_of_fig6_7():
    stored = {run.variant.name: run.experiment for run in plan_runs("fig8", "full", seeds=[0])}
    assert stored == {
        "quantum-L1": "fig8",
        "quantum-L2": "fig8",
        "quantum-L3": "fig6_7",
        "quantum-L4": "fig8",
        "classical": "fig6_7",
    }
    fig6_7 = {str(run) for run in plan_runs("fig6_7", "full", seeds=[0])}
    shared = {str(run) for run in plan_runs("fig8", "full", seeds=[0])} & fig6_7
    assert shared == {"fig6_7/full/quantum-L3/seed0", "fig6_7/full/classical/seed0"}


def test_plan_covers_every_model_and_seed():
    runs = plan_runs("fig4_5", "full")
    assert [(run.variant.name, run.seed) for run in runs] == [
        ("quantum-L3", 0),
        ("quantum-L3", 1),
        ("quantum-L3", 2),
        ("classical", 0),
        ("classical", 1),
        ("classical", 2),
    ]
    assert {run.dataset for run in runs} == {"fashion-mnist"}


def test_the_controls_central_comparisons_get_five_seeds_on_cifar10_and_three_on_fashion_mnist():
    def seeds(experiment: str) -> dict[str, list[int]]:
        planned: dict[str, list[int]] = {}
        for run in plan_runs(experiment, "full"):
            planned.setdefault(run.variant.name, []).append(run.seed)
        return planned

    five = {"quantum-L3", "classical", "linear", "normalised-quadratic"}
    cifar10 = seeds("controls")
    assert {model for model, planned in cifar10.items() if planned == [0, 1, 2, 3, 4]} == five
    assert all(planned == [0, 1, 2] for model, planned in cifar10.items() if model not in five)
    fashion = ["quantum-L3", "classical", "linear", "normalised-quadratic", "frozen-L3"]
    assert seeds("controls_fmnist") == {model: [0, 1, 2] for model in fashion}
    stored = {run.experiment for run in plan_runs("controls_fmnist", "full", models=["quantum-L3", "classical"])}
    assert stored == {"fig4_5"}  # the same runs as the paper's figures, whatever their seed counts


def test_unknown_experiment_and_preset():
    with pytest.raises(
        ValueError,
        match=r"unknown experiment 'fig9'; expected one of "
        r"\['fig4_5', 'fig6_7', 'fig8', 'controls', 'controls_fmnist', 'architectures'\]",
    ):
        plan_runs("fig9", "quick")
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; expected one of \['quick', 'full', 'tune'\]"):
        plan_runs("fig4_5", "huge")


@pytest.mark.parametrize(
    "seeds,message",
    [
        ([], "the seed list is empty"),
        ([-1], "seed -1 is not a non-negative integer"),
        (["1"], "seed '1' is not a non-negative integer"),
        ([True], "seed True is not a non-negative integer"),
        ([0, 1, 0], r"seeds must be distinct; repeated: \[0\]"),
    ],
)
def test_bad_seed_lists(seeds, message):
    with pytest.raises(ValueError, match=message):
        validate_seeds(seeds)


@pytest.fixture
def tiny_preset(monkeypatch):
    """A preset small enough for a test: 1 epoch on 500 training and 200 test images, seed 3."""
    tiny = Preset("tiny", TrainingRecipe(epochs=1), train_size=500, test_size=200, seeds=(3,), description="test only")
    monkeypatch.setitem(experiments.PRESETS, "tiny", tiny)
    return tiny


def test_a_tiny_experiment_runs_records_and_is_skipped_when_complete(fashion_mnist_root, tmp_path, tiny_preset):
    results, checkpoints, lines = tmp_path / "results", tmp_path / "checkpoints", []
    reports = run_experiment(
        "fig4_5",
        "tiny",
        device="cpu",
        data_root=fashion_mnist_root,
        results_dir=results,
        checkpoint_dir=checkpoints,
        progress=False,
        log=lines.append,
    )
    folders = [report.folder for report in reports]
    assert folders == [results / "fig4_5/tiny/quantum-L3/seed3", results / "fig4_5/tiny/classical/seed3"]
    assert [report.kind.value for report in reports] == ["trained", "trained"]
    for folder in folders:
        config = json.loads((folder / "config.json").read_text())
        assert config["status"] == "complete" and config["epochs_completed"] == 1
        assert config["dataset_copy"] == "fashion-mnist-original"
        assert (config["train_size"], config["test_size"], config["seed"]) == (500, 200, 3)
        assert config["recipe"] == {
            "epochs": 1,
            "lr": 0.01,
            "optimizer": "adam",
            "schedule": "cosine",
            "loss": "cross_entropy",
            "train_batch_size": 128,
            "test_batch_size": 64,
            "stop_at_chance_after": 3,
        }
        assert set(config["versions"]) == {"python", "torch", "torchvision", "pennylane", "qpconv"}
        assert config["device"].startswith("cpu") and config["memory_format"] == "torch.channels_last"
        header = (folder / "metrics.csv").read_text().splitlines()[0]
        assert header == ",".join(METRIC_FIELDS)
    assert (checkpoints / "fig4_5/tiny/quantum-L3/seed3/checkpoint.pt").is_file()
    quantum = json.loads((folders[0] / "config.json").read_text())["parameters"]
    assert quantum["quantum"] > 0

    lines.clear()
    run_experiment(
        "fig4_5",
        "tiny",
        device="cpu",
        data_root=fashion_mnist_root,
        results_dir=results,
        checkpoint_dir=checkpoints,
        progress=False,
        log=lines.append,
    )
    assert lines[:2] == ["fig4_5/tiny/quantum-L3/seed3: complete, skipped", "fig4_5/tiny/classical/seed3: complete, skipped"]

    runs = load_runs("fig4_5", "tiny", results)
    assert [run.config.model for run in runs] == ["quantum-L3", "classical"]
    assert {run.outcome.memory_format for run in runs} == {"torch.channels_last"}
    assert [(run.config.ansatz, run.config.n_layers) for run in runs] == [("strongly_entangling", 3), (None, None)]
    rows = metrics_table(runs)
    assert len(rows) == 2 and {row["model"] for row in rows} == {"quantum-L3", "classical"}
    assert all(0.0 <= row["test_acc"] <= 1.0 for row in rows)


def test_a_validation_split_is_carved_from_the_training_set_never_the_test_set(fashion_mnist_root, tmp_path, monkeypatch):
    from qpconv.replication.loading import stratified_split, stratified_subset
    from qpconv.replication.results import read_run

    images = torch.arange(100.0).view(-1, 1)
    labels = torch.arange(100) % 10
    rest, held_out = stratified_split(TensorDataset(images, labels), 20, seed=0)
    assert len(rest) == 80 and len(held_out) == 20 and torch.bincount(held_out.tensors[1]).tolist() == [2] * 10
    assert not set(rest.tensors[0].flatten().tolist()) & set(held_out.tensors[0].flatten().tolist())
    assert torch.equal(held_out.tensors[0], stratified_subset(TensorDataset(images, labels), 20, seed=0).tensors[0])

    tiny = Preset("tiny-tune", TrainingRecipe(epochs=1), 500, None, (0,), "test only", validation_size=200)
    monkeypatch.setitem(experiments.PRESETS, "tiny-tune", tiny)
    folders = {"results_dir": tmp_path / "results", "checkpoint_dir": tmp_path / "checkpoints"}
    run_experiment(
        "fig4_5", "tiny-tune", models=["classical"], device="cpu", data_root=fashion_mnist_root, progress=False, **folders
    )
    record = read_run(tmp_path / "results" / "fig4_5" / "tiny-tune" / "classical" / "seed0")
    assert record.config.evaluated_on == "validation" and record.config.test_size == 200 and record.config.train_size == 500
    assert json.loads((record.path / "config.json").read_text())["evaluated_on"] == "validation"
