"""Training with a :class:`~qpconv.replication.recipe.TrainingRecipe`, resumable from a checkpoint written after every epoch.

Book: chapter 7, Hybrid models (section "Training").

The recipe (the paper's: Adam at 0.01, cosine annealing over the run, cross-entropy,
batches of 128 and 64) is data, :mod:`qpconv.replication.recipe`; :func:`train` builds
the optimiser, schedule and loss from it and nothing else.

Divergence: a non-finite training loss, non-finite activations reaching a quantum layer
(its weights' predecessors became non-finite), or, from ``recipe.stop_at_chance_after``
on, a training accuracy at chance level stop the run with :class:`TrainingDiverged`,
which says at which epoch and why, instead of training on and recording chance accuracy.

Memory format: by default the model's convolution weights and every batch of images are
laid out ``torch.channels_last`` (``memory_format`` of :func:`train`). The values are those of
the default layout up to float rounding, and on the CPU the paper's CNN trains about 1.2 to
1.5 times faster (oneDNN's convolutions, pooling and BatchNorm prefer it, and the pointwise
layers read the pixels' rows without a copy); each run records the layout it used.

Resuming: after every epoch the model, optimiser, scheduler, every random generator
(python, numpy, torch CPU and CUDA, and the training loader's shuffling generator) and
the metrics so far are saved atomically to the checkpoint. Calling :func:`train` again
with the same checkpoint continues after the last finished epoch and produces exactly
the metrics an uninterrupted run would (on the CPU, for any thread count), so killing a
run, even with ``kill -9``, loses at most the epoch in progress. A checkpoint that cannot
be read raises :class:`DamagedCheckpointError`; one of another run raises
:class:`CheckpointMismatchError`; both name the file and what to do, and the file is only
ever loaded with ``weights_only=True``.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..encoding import NonFiniteInputError
from .atomic import atomic_write
from .recipe import CHANCE_MARGIN, TrainingRecipe

__all__ = [
    "CHECKPOINT_KEYS",
    "CheckpointMismatchError",
    "DamagedCheckpointError",
    "TrainingDiverged",
    "evaluate",
    "load_checkpoint",
    "progress_enabled",
    "resolve_device",
    "seed_everything",
    "train",
]


CHECKPOINT_KEYS = ("run_tag", "recipe", "model", "optimizer", "scheduler", "rng", "metrics")
"""What a checkpoint holds."""

_CHOICE = "delete it, or rerun with --restart to move it aside and train this run afresh"


class CheckpointMismatchError(RuntimeError):
    """A checkpoint belongs to a different run configuration than the one being resumed."""


class DamagedCheckpointError(RuntimeError):
    """A checkpoint cannot be read (truncated, not a checkpoint, or holding what cannot be loaded safely)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"checkpoint {path} cannot be read ({reason}); {_CHOICE}")
        self.path = path


class TrainingDiverged(RuntimeError):
    """Training diverged.

    Attributes:
        epoch: the epoch in which it was detected.
        reason: what was seen, in words.
        metrics: the rows of the epochs finished before (and, for chance level, including) that epoch.
    """

    def __init__(self, epoch: int, reason: str, metrics: list[dict[str, float]]) -> None:
        super().__init__(f"training diverged in epoch {epoch}: {reason}")
        self.epoch = epoch
        self.reason = reason
        self.metrics = metrics


def _differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """``"key: saved there, current here"`` for every leaf where two nested dicts differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        keys = list(dict.fromkeys([*saved, *current]))
        return [line for key in keys for line in _differences(saved.get(key), current.get(key), f"{prefix}{key}.")]
    return [] if saved == current else [f"{prefix.rstrip('.')} is {saved!r} there, {current!r} here"]


def _readable_reason(error: BaseException) -> str:
    """A one-line reason for an unreadable checkpoint that never repeats torch's advice to load unsafely."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if any("weights_only" in line for line in lines):
        return "it holds objects that cannot be loaded safely"
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def load_checkpoint(path: Path, keys: tuple[str, ...] = CHECKPOINT_KEYS) -> dict[str, Any]:
    """A checkpoint written by :func:`train`, loaded with ``weights_only=True`` and checked.

    Args:
        path: the checkpoint file.
        keys: the entries it must hold (default all of :data:`CHECKPOINT_KEYS`; checkpoints of
            older versions lack some, e.g. ``"recipe"``, but hold ``"model"`` and ``"metrics"``).

    Raises:
        DamagedCheckpointError: the file cannot be read or lacks one of ``keys``.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, EOF, refused unpickling, ...: all mean "damaged"
        raise DamagedCheckpointError(path, _readable_reason(error)) from None
    if not isinstance(state, dict):
        raise DamagedCheckpointError(path, "not a qpconv checkpoint")
    missing = [key for key in keys if key not in state]
    if missing:
        raise DamagedCheckpointError(path, f"not a qpconv checkpoint: no {', '.join(missing)}")
    return state


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else the CPU.

    Book: chapter 7, Hybrid models.

    Raises:
        ValueError: CUDA was asked for but is not available.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available; use 'cpu'")
    return device


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (CPU and CUDA) with ``seed``.

    Book: chapter 7, Hybrid models.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def progress_enabled() -> bool:
    """Whether to show progress bars: stdout is a terminal and ``$CI`` is not set.

    Book: chapter 7, Hybrid models.
    """
    return sys.stdout.isatty() and not os.environ.get("CI")


def _rng_states(loader_generator: torch.Generator) -> dict[str, Any]:
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(np.asarray(keys).astype(np.int64)), position, has_gauss, cached_gaussian),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": loader_generator.get_state(),
    }


def _restore_rng_states(states: dict[str, Any], loader_generator: torch.Generator) -> None:
    name, keys, position, has_gauss, cached_gaussian = states["numpy"]
    random.setstate(states["python"])
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    loader_generator.set_state(states["loader"])


def _laid_out(images: torch.Tensor, device: torch.device, memory_format: torch.memory_format) -> torch.Tensor:
    """``images`` on ``device``, 4-D ones in ``memory_format`` (other ranks have no channels to move)."""
    return images.to(device, memory_format=memory_format) if images.dim() == 4 else images.to(device)


class _Diverged(Exception):
    """Raised inside an epoch; :func:`train` turns it into :class:`TrainingDiverged`."""


def _train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    loss_function: Callable[..., torch.Tensor],
    device: torch.device,
    progress: bool,
    memory_format: torch.memory_format,
) -> tuple[float, float, int]:
    """One pass over ``loader`` in train mode -> (mean batch loss, fraction correct, number of classes).

    Raises:
        _Diverged: the loss became non-finite, or non-finite activations reached a quantum layer
            because some weights are no longer finite.
    """
    model.train()
    loss_sum, correct, seen, n_classes = 0.0, 0, 0, 0
    for batch, (images, labels) in enumerate(tqdm(loader, desc="train", leave=False, disable=not progress), start=1):
        images, labels = _laid_out(images, device, memory_format), labels.to(device)
        try:
            logits = model(images)
        except NonFiniteInputError as error:
            if all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                raise  # finite weights: the data itself is not finite, which is not divergence
            raise _Diverged(f"non-finite activations reached a quantum layer in batch {batch} ({error})") from None
        loss = loss_function(logits, labels)
        if not bool(torch.isfinite(loss)):
            raise _Diverged(f"the training loss became {loss.item()} in batch {batch}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
        n_classes = logits.shape[1]
    return loss_sum / len(loader), correct / seen, n_classes


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: str | torch.device | None = None,
    progress: bool = False,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on every sample of ``loader``, in eval mode.

    Book: chapter 7, Hybrid models.

    ``memory_format`` lays out 4-D image batches (:func:`train` passes its own); the
    model's weights are used as they are.

    Returns:
        ``(loss, accuracy)``: loss averaged over samples, accuracy a fraction in ``[0, 1]``.
    """
    device = resolve_device(device)
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for images, labels in tqdm(loader, desc="test", leave=False, disable=not progress):
        images, labels = _laid_out(images, device, memory_format), labels.to(device)
        logits = model(images)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
    return loss_sum / seen, correct / seen


def train(
    model: nn.Module,
    train_loader: DataLoader,
    test_loader: DataLoader,
    recipe: TrainingRecipe,
    *,
    device: str | torch.device | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    run_tag: Any = None,
    on_epoch_end: Callable[[list[dict[str, float]]], None] | None = None,
    progress: bool | None = None,
    memory_format: torch.memory_format = torch.channels_last,
) -> list[dict[str, float]]:
    """Train ``model`` with ``recipe``, resuming from a checkpoint.

    Book: chapter 7, Hybrid models.

    Per epoch a row is recorded with ``epoch`` (from 1), ``train_loss`` and ``train_acc``
    (the mean of the epoch's training-batch losses and the fraction of its training
    samples classified correctly, both in train mode, i.e. with dropout and batch
    statistics, while the weights change), ``test_loss`` and ``test_acc`` (the whole test
    set in eval mode after the epoch), ``lr`` (the learning rate used during the epoch)
    and ``seconds`` (the epoch's wall time, training plus testing).

    Args:
        model: the network; moved to ``device``.
        train_loader: shuffled training batches; its ``generator`` must be set (see
            :func:`qpconv.replication.loading.make_loaders`) so that resuming reproduces the shuffling.
        test_loader: test batches.
        recipe: epochs, optimiser, learning rate and its schedule, loss; the loaders' batch
            sizes must be the recipe's.
        device: where to train; default CUDA when available, else CPU.
        checkpoint_path: file to resume from (when it exists) and to save after every epoch.
        run_tag: a description of the run in plain data (dicts, lists, strings, numbers),
            e.g. its config; a checkpoint saved with another tag is refused, so a changed
            configuration never resumes silently.
        on_epoch_end: called with the metrics so far after every epoch (after the checkpoint
            is saved), e.g. to write the results.
        progress: show tqdm bars; default :func:`progress_enabled`.
        memory_format: layout of the model's 4-D weights and of the image batches,
            ``torch.channels_last`` or ``torch.contiguous_format`` (see the module docstring);
            a checkpoint resumes in either.

    Returns:
        The metrics of all ``recipe.epochs`` epochs, including those of earlier, resumed sessions.

    Raises:
        ValueError: the loader has no generator, or a loader's batch size is not the recipe's.
        DamagedCheckpointError: the checkpoint cannot be read.
        CheckpointMismatchError: the checkpoint was written for another ``run_tag`` or recipe;
            the message lists what differs.
        TrainingDiverged: training diverged (see the module docstring); the checkpoint keeps
            the last finished epoch before it.
    """
    if train_loader.generator is None:
        raise ValueError("train_loader needs a seeded generator (use qpconv.replication.loading.make_loaders)")
    for name, loader, size in (("train", train_loader, recipe.train_batch_size), ("test", test_loader, recipe.test_batch_size)):
        if loader.batch_size != size:
            raise ValueError(f"the {name} loader has batches of {loader.batch_size}, the recipe says {size}")
    epochs = recipe.epochs
    device = resolve_device(device)
    progress = progress_enabled() if progress is None else progress
    model.to(device)
    model.to(memory_format=memory_format)
    optimizer = recipe.make_optimizer(model.parameters())
    scheduler = recipe.make_scheduler(optimizer)
    loss_function = recipe.loss_function()
    metrics: list[dict[str, float]] = []
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    if checkpoint_path is not None and checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path)
        differences = _differences(
            {"recipe": state["recipe"], "run": state["run_tag"]}, {"recipe": recipe.to_json(), "run": run_tag}
        )
        if differences:
            raise CheckpointMismatchError(
                f"checkpoint {checkpoint_path} belongs to another configuration: {'; '.join(differences)}; {_CHOICE}"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _restore_rng_states(state["rng"], train_loader.generator)
        metrics = state["metrics"]

    for epoch in tqdm(range(len(metrics) + 1, epochs + 1), desc="epochs", disable=not progress):
        start = time.perf_counter()
        lr_now = optimizer.param_groups[0]["lr"]
        try:
            train_loss, train_acc, n_classes = _train_one_epoch(
                model, train_loader, optimizer, loss_function, device, progress, memory_format
            )
        except _Diverged as diverged:
            raise TrainingDiverged(epoch, str(diverged), list(metrics)) from None
        test_loss, test_acc = evaluate(model, test_loader, device, progress, memory_format)
        scheduler.step()
        metrics.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "lr": lr_now,
                "seconds": time.perf_counter() - start,
            }
        )
        chance = 1 / n_classes + CHANCE_MARGIN
        if recipe.stop_at_chance_after is not None and epoch >= recipe.stop_at_chance_after and train_acc <= chance:
            reason = f"training accuracy {train_acc:.3f} after {epoch} epochs is at chance level (1 in {n_classes} classes)"
            raise TrainingDiverged(epoch, reason, list(metrics))
        if checkpoint_path is not None:
            checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            state = {
                "run_tag": run_tag,
                "recipe": recipe.to_json(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_states(train_loader.generator),
                "metrics": metrics,
            }
            with atomic_write(checkpoint_path, "wb") as file:
                torch.save(state, file)
        if on_epoch_end is not None:
            on_epoch_end(list(metrics))
    return metrics
