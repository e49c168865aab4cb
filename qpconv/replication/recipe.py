"""The training recipe as data: what :func:`~qpconv.replication.training.train` runs and each run records.

Book: chapter 7, Hybrid models (section "Training recipe").

The paper's recipe (Section IV) is Adam at learning rate 0.01, cosine annealing of the
learning rate, cross-entropy loss, batches of 128 for training and 64 for testing. A
:class:`TrainingRecipe` holds exactly these choices plus the number of epochs; the
trainer builds its optimiser, schedule and loss from it, and the runner writes it into
every run's ``config.json`` (:meth:`TrainingRecipe.to_json`), so the record is the
recipe that ran, never a second copy of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import torch
from torch.nn import functional as F

__all__ = ["CHANCE_MARGIN", "Loss", "Optimizer", "Schedule", "TrainingRecipe"]

CHANCE_MARGIN = 0.05
"""How far above ``1 / classes`` a training accuracy still counts as chance level."""


class Optimizer(str, Enum):
    """The optimiser: ``adam`` is ``torch.optim.Adam`` with PyTorch's defaults but the learning rate."""

    ADAM = "adam"


class Schedule(str, Enum):
    """The learning-rate schedule: ``cosine`` is ``CosineAnnealingLR(T_max=epochs)``, stepped once per epoch."""

    COSINE = "cosine"


class Loss(str, Enum):
    """The training loss: ``cross_entropy`` is ``torch.nn.functional.cross_entropy`` on the logits."""

    CROSS_ENTROPY = "cross_entropy"


_LEGACY_NAMES = {"Adam": Optimizer.ADAM, "CosineAnnealingLR(T_max=epochs), stepped per epoch": Schedule.COSINE}
"""How the runs recorded before the recipe existed (flat ``config.json``) wrote these choices."""


@dataclass(frozen=True)
class TrainingRecipe:
    """How a model is trained.

    Attributes:
        epochs: epochs of the run; the cosine schedule spans them all (``T_max = epochs``).
        lr: initial learning rate.
        optimizer, schedule, loss: see :class:`Optimizer`, :class:`Schedule`, :class:`Loss`.
        train_batch_size, test_batch_size: batch sizes of the training and test loaders.
        stop_at_chance_after: from this epoch on, a training accuracy at chance level (at
            most ``1 / classes + CHANCE_MARGIN``) stops the run as diverged; ``None`` never
            (runs recorded before the rule existed). A non-finite training loss always does.

    Raises:
        ValueError: a field out of range (``epochs`` or a batch size not a positive
            integer, ``lr`` not a positive finite number), or an unknown name.
    """

    epochs: int
    lr: float = 0.01
    optimizer: Optimizer = Optimizer.ADAM
    schedule: Schedule = Schedule.COSINE
    loss: Loss = Loss.CROSS_ENTROPY
    train_batch_size: int = 128
    test_batch_size: int = 64
    stop_at_chance_after: int | None = 3

    def __post_init__(self) -> None:
        for name in ("epochs", "train_batch_size", "test_batch_size", "stop_at_chance_after"):
            value = getattr(self, name)
            if name == "stop_at_chance_after" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        # accept the enums' values as plain strings (as read from JSON), and reject anything else
        object.__setattr__(self, "optimizer", Optimizer(self.optimizer))
        object.__setattr__(self, "schedule", Schedule(self.schedule))
        object.__setattr__(self, "loss", Loss(self.loss))

    def make_optimizer(self, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """The optimiser over ``parameters``."""
        return torch.optim.Adam(parameters, lr=self.lr)

    def make_scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        """The learning-rate schedule of ``optimizer``, to be stepped once per epoch."""
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)

    def loss_function(self) -> Callable[..., torch.Tensor]:
        """``loss(logits, labels, reduction="mean")``."""
        return F.cross_entropy

    def to_json(self) -> dict[str, Any]:
        """The recipe as JSON-ready data (enums as their values)."""
        return {key: value.value if isinstance(value, Enum) else value for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingRecipe:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: a missing, unknown or invalid field.
        """
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown recipe field(s) {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as error:  # a missing field
            raise ValueError(f"incomplete recipe: {error}") from None

    @classmethod
    def from_legacy_config(cls, config: Mapping[str, Any]) -> TrainingRecipe:
        """The recipe of a run recorded before recipes were stored as such (flat ``config.json`` keys).

        Raises:
            ValueError: a missing or unknown value.
        """
        try:
            return cls(
                epochs=config["epochs"],
                lr=config["lr"],
                optimizer=_LEGACY_NAMES.get(config["optimizer"], config["optimizer"]),
                schedule=_LEGACY_NAMES.get(config["scheduler"], config["scheduler"]),
                loss=config["loss"],
                train_batch_size=config["train_batch_size"],
                test_batch_size=config["test_batch_size"],
                stop_at_chance_after=None,
            )
        except KeyError as error:
            raise ValueError(f"missing key {error.args[0]!r}") from None
