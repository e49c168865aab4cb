"""Training: a real short run learns, the recipe's schedule, exact resumption, refused checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from qpconv.replication.loading import make_loaders, stratified_subset
from qpconv.replication.models import build_model
from qpconv.replication.recipe import TrainingRecipe
from qpconv.replication.training import CheckpointMismatchError, evaluate, resolve_device, seed_everything, train

LOSS_AND_ACCURACY = ("train_loss", "train_acc", "test_loss", "test_acc", "lr")


class Interrupted(Exception):
    """Stands in for a run killed between epochs."""


def setup_run(fashion_mnist, train_size: int, test_size: int, seed: int = 0):
    """Model and loaders exactly as the experiment runner builds them: seed first, then everything else."""
    seed_everything(seed)
    model = build_model("fashion-mnist", "quantum", n_layers=1)
    loaders = make_loaders(
        stratified_subset(fashion_mnist.train, train_size, seed=0), stratified_subset(fashion_mnist.test, test_size, seed=0), seed
    )
    return model, *loaders


def train_tiny(run, checkpoint, **kwargs):
    """Train ``run`` (a model and its loaders from ``setup_run(fashion_mnist, 600, 200)``) for 3 epochs, checkpointed."""
    return train(
        *run,
        TrainingRecipe(epochs=3),
        device="cpu",
        checkpoint_path=checkpoint,
        run_tag={"run": "tiny"},
        progress=False,
        **kwargs,
    )


def test_one_epoch_on_a_subset_is_clearly_above_chance(fashion_mnist):
    model, train_loader, test_loader = setup_run(fashion_mnist, 3000, 1000)
    metrics = train(model, train_loader, test_loader, TrainingRecipe(epochs=1), device="cpu", progress=False)
    assert len(metrics) == 1
    row = metrics[0]
    assert set(row) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
    assert row["epoch"] == 1 and row["lr"] == 0.01 and row["seconds"] > 0
    assert row["test_acc"] > 0.5, row  # chance is 0.1
    assert row["test_loss"] < math.log(10)  # better than a uniform guess
    assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last)  # train's default layout
    assert evaluate(model, test_loader, "cpu", memory_format=torch.channels_last) == pytest.approx(
        (row["test_loss"], row["test_acc"])
    )
    assert evaluate(model, test_loader, "cpu") == pytest.approx((row["test_loss"], row["test_acc"]), rel=1e-4)


@pytest.fixture(scope="module")
def uninterrupted(fashion_mnist, tmp_path_factory):
    return train_tiny(setup_run(fashion_mnist, 600, 200), tmp_path_factory.mktemp("uninterrupted") / "checkpoint.pt")


def without_seconds(metrics):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in metrics]


def test_cosine_schedule_spans_the_run(uninterrupted):
    assert [row["epoch"] for row in uninterrupted] == [1, 2, 3]
    expected = [0.01 * (1 + math.cos(math.pi * epoch / 3)) / 2 for epoch in range(3)]
    assert [row["lr"] for row in uninterrupted] == pytest.approx(expected)


def test_resumed_run_ends_exactly_as_an_uninterrupted_one(fashion_mnist, tmp_path, uninterrupted):
    checkpoint = tmp_path / "checkpoint.pt"

    def stop_after_first_epoch(metrics):
        if len(metrics) == 1:
            raise Interrupted

    run = setup_run(fashion_mnist, 600, 200)
    with pytest.raises(Interrupted):
        train_tiny(run, checkpoint, on_epoch_end=stop_after_first_epoch)

    # a new process: fresh model and loaders, and the global generators moved on
    run = setup_run(fashion_mnist, 600, 200)
    torch.rand(100)
    seen = []
    resumed = train_tiny(run, checkpoint, on_epoch_end=seen.append)
    assert [len(metrics) for metrics in seen] == [2, 3]  # only epochs 2 and 3 ran
    assert without_seconds(resumed) == without_seconds(uninterrupted)


def test_a_checkpoint_write_that_dies_leaves_the_previous_one(fashion_mnist, tmp_path, monkeypatch, uninterrupted):
    checkpoint = tmp_path / "checkpoint.pt"
    real_save = torch.save

    def save_then_die_on_the_second_epoch(state, file, *args, **kwargs):
        if len(state["metrics"]) == 2:
            file.write(b"half a checkpoint")
            raise Interrupted
        real_save(state, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_then_die_on_the_second_epoch)
    run = setup_run(fashion_mnist, 600, 200)
    with pytest.raises(Interrupted):
        train_tiny(run, checkpoint)
    monkeypatch.undo()
    assert [path.name for path in tmp_path.iterdir()] == ["checkpoint.pt"]
    assert len(torch.load(checkpoint, weights_only=True)["metrics"]) == 1

    run = setup_run(fashion_mnist, 600, 200)
    resumed = train_tiny(run, checkpoint)
    assert without_seconds(resumed) == without_seconds(uninterrupted)


def test_checkpoint_of_another_configuration_is_refused(fashion_mnist, tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    model, train_loader, test_loader = setup_run(fashion_mnist, 100, 100)
    one = TrainingRecipe(epochs=1)
    train(model, train_loader, test_loader, one, device="cpu", checkpoint_path=checkpoint, run_tag={"run": "a"}, progress=False)
    with pytest.raises(
        CheckpointMismatchError, match="belongs to another configuration: run.run is 'a' there, 'b' here; delete it"
    ):
        train(
            model, train_loader, test_loader, one, device="cpu", checkpoint_path=checkpoint, run_tag={"run": "b"}, progress=False
        )
    with pytest.raises(CheckpointMismatchError, match=r"recipe.epochs is 1 there, 2 here"):
        train(
            model,
            train_loader,
            test_loader,
            TrainingRecipe(epochs=2),
            device="cpu",
            checkpoint_path=checkpoint,
            run_tag={"run": "a"},
            progress=False,
        )


def test_bad_recipes_unseeded_loaders_and_other_batch_sizes_are_refused(fashion_mnist):
    model, train_loader, test_loader = setup_run(fashion_mnist, 100, 100)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        TrainingRecipe(epochs=0)
    with pytest.raises(ValueError, match="lr must be a positive finite number, got nan"):
        TrainingRecipe(epochs=1, lr=float("nan"))
    with pytest.raises(ValueError, match="'sgd' is not a valid Optimizer"):
        TrainingRecipe(epochs=1, optimizer="sgd")
    unseeded = torch.utils.data.DataLoader(train_loader.dataset, batch_size=128, shuffle=True)
    with pytest.raises(ValueError, match="train_loader needs a seeded generator"):
        train(model, unseeded, test_loader, TrainingRecipe(epochs=1))
    with pytest.raises(ValueError, match="the train loader has batches of 128, the recipe says 32"):
        train(model, train_loader, test_loader, TrainingRecipe(epochs=1, train_batch_size=32))


def test_device_is_chosen_automatically():
    assert resolve_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' requested but CUDA is not available; use 'cpu'"):
            resolve_device("cuda")
