"""The paper's trained models on a simulated quantum device: shots, gate noise, and noise-aware fine-tuning.

Book: "On a real quantum computer".

A recorded full run keeps its trained model (``model.pt``). Its base CNN is classical and
noiseless on any device, so the test images go through it once (:func:`feature_maps`); the
pointwise block and the head then run on those feature maps under every
:class:`DeviceCondition`, with the model's circuits unchanged
(:func:`~qpconv.hardware_conditions.hardware_conditions`).

Noise-aware fine-tuning (:func:`fine_tune_top`) retrains, on the training set's feature
maps, the classical layers after the base CNN (the block's ``3x3`` convolution and the
head) with the circuits' angles frozen and their noisy outputs exact. With the angles
frozen, each noisy quantum layer is a fixed quadratic form (:func:`qpconv.dequantise.dequantise`
of the noisy layer), so the fine-tuning costs no more than a classical layer's; training the
angles themselves under gate noise costs about five times a noiseless step on a CPU (the
observables' evolution through the noisy gates, at every step), which the recorded runs
leave out. The same fine-tuning without noise is the control: what fine-tuning alone gives.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ..dequantise import dequantise
from ..hardware_conditions import hardware_conditions
from ..layers import QuantumPointwiseConv2d
from ..noise import NoiseModel
from .models import HybridCNN

__all__ = [
    "COMBINED",
    "CONDITIONS",
    "DEPOLARIZING",
    "NOISE_AWARE",
    "QUICK_CONDITIONS",
    "SHOT_COUNTS",
    "ConditionKind",
    "DeviceCondition",
    "FineTuning",
    "accuracy_on_features",
    "condition_accuracies",
    "feature_maps",
    "fine_tune_top",
]

SHOT_COUNTS = (10, 100, 1000, 10000)
"""Shots per pixel and circuit of the shot-noise conditions."""
DEPOLARIZING = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1)
"""Depolarising probabilities ``p`` of the gate-noise conditions (after every one- and two-qubit gate): the
three of the issue and two larger ones, to find where accuracy breaks."""
COMBINED = (1000, 1e-2)
"""``(shots, p)`` of the combined condition. One only: with gate noise, sampling needs the noisy probabilities
of all ``2**n`` outcomes (:func:`qpconv.shots.outcome_probabilities`), whose forms cost ``2**n / n`` times the
``n`` noisy expectations' (about 18 times for the 7-qubit layer: minutes per trained model on a CPU)."""
NOISE_AWARE = (3e-2, 1e-1)
"""Depolarising probabilities of the noise-aware fine-tuning, where the trained models lose accuracy."""
EVALUATION_BATCH = 1000
"""Images per batch when the pointwise block and the head run on feature maps."""


class ConditionKind(str, Enum):
    """What a :class:`DeviceCondition` adds to the exact, noiseless layer."""

    EXACT = "exact"
    SHOTS = "shots"
    DEPOLARIZING = "depolarising"
    COMBINED = "depolarising and shots"


@dataclass(frozen=True)
class DeviceCondition:
    """One way to run the quantum layers: shots per pixel and circuit, and a depolarising probability.

    Attributes:
        shots: runs per pixel and circuit; ``None``: exact expectations.
        depolarizing: ``p`` of a depolarising channel on every wire of every gate, one- and
            two-qubit gates alike (PennyLane's ``DepolarizingChannel``, :mod:`qpconv.noise`); 0: none.
    """

    shots: int | None = None
    depolarizing: float = 0.0

    @property
    def kind(self) -> ConditionKind:
        """Shots, depolarising noise, both or neither."""
        if self.shots is None:
            return ConditionKind.DEPOLARIZING if self.depolarizing else ConditionKind.EXACT
        return ConditionKind.COMBINED if self.depolarizing else ConditionKind.SHOTS

    @property
    def noise(self) -> NoiseModel | None:
        """The :class:`~qpconv.noise.NoiseModel` of ``depolarizing``, ``None`` without noise."""
        if not self.depolarizing:
            return None
        return NoiseModel(single_qubit_depolarizing=self.depolarizing, two_qubit_depolarizing=self.depolarizing)


CONDITIONS: tuple[DeviceCondition, ...] = (
    DeviceCondition(),
    *(DeviceCondition(shots=shots) for shots in SHOT_COUNTS),
    *(DeviceCondition(depolarizing=p) for p in DEPOLARIZING),
    DeviceCondition(shots=COMBINED[0], depolarizing=COMBINED[1]),
)
"""The conditions of the chapter, in this order; exact, each shot count, each ``p``, and :data:`COMBINED`."""
QUICK_CONDITIONS: tuple[DeviceCondition, ...] = (
    DeviceCondition(),
    DeviceCondition(shots=100),
    DeviceCondition(depolarizing=1e-2),
)
"""A few conditions for the quick preset (exact, 100 shots, ``p = 0.01``)."""


def feature_maps(model: HybridCNN, images: torch.Tensor, batch_size: int = EVALUATION_BATCH) -> torch.Tensor:
    """The base CNN's output on ``images`` ``(N, C, H, W)`` -> ``(N, 128, s, s)``, in eval mode, without gradient."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model.features(batch) for batch in images.split(batch_size)])


def accuracy_on_features(
    top: nn.Module, features: torch.Tensor, labels: torch.Tensor, batch_size: int = EVALUATION_BATCH
) -> float:
    """Fraction of ``labels`` ``(N,)`` that ``top`` (the block and the head) predicts from ``features``, in eval mode."""
    top.eval()
    with torch.no_grad():
        correct = sum(
            int((top(batch).argmax(dim=1) == truth).sum())
            for batch, truth in zip(features.split(batch_size), labels.split(batch_size), strict=True)
        )
    return correct / len(labels)


def _top(model: HybridCNN) -> nn.Sequential:
    """The pointwise block and the head: feature maps -> logits (the model's own modules, not copies)."""
    return nn.Sequential(model.pointwise, model.head)


def condition_accuracies(
    model: HybridCNN,
    features: torch.Tensor,
    labels: torch.Tensor,
    conditions: tuple[DeviceCondition, ...] = CONDITIONS,
    seed: int = 0,
) -> list[dict[str, object]]:
    """Test accuracy of ``model`` with its quantum layers run under each condition.

    Args:
        model: a trained model with quantum layers (its weights are not changed).
        features: :func:`feature_maps` of the test images, ``(N, 128, s, s)``.
        labels: ``(N,)`` class indices.
        conditions: the device conditions.
        seed: seeds the shots' ``torch.Generator`` anew for every condition (reproducible draws).

    Returns:
        One row per condition: ``kind``, ``shots`` (``None`` for exact expectations),
        ``depolarizing``, ``accuracy`` (a fraction).
    """
    top = _top(model)
    rows: list[dict[str, object]] = []
    for condition in conditions:
        generator = torch.Generator().manual_seed(seed)
        with hardware_conditions(model, noise=condition.noise, shots=condition.shots, generator=generator):
            accuracy = accuracy_on_features(top, features, labels)
        rows.append(
            {"kind": condition.kind.value, "shots": condition.shots, "depolarizing": condition.depolarizing, "accuracy": accuracy}
        )
    return rows


@dataclass(frozen=True)
class FineTuning:
    """How the classical layers after the base CNN are retrained (:func:`fine_tune_top`).

    Attributes:
        epochs: passes over the training set's feature maps.
        lr: Adam's learning rate (constant).
        batch_size: feature maps per step.
    """

    epochs: int = 2
    lr: float = 1e-3
    batch_size: int = 128


def _with_fixed_forms(module: nn.Module, noise: NoiseModel | None) -> nn.Module:
    """``module`` with every quantum layer replaced by its fixed (noisy) quadratic form; all else shared, not copied."""
    if isinstance(module, QuantumPointwiseConv2d):
        with hardware_conditions(module, noise=noise):
            return dequantise(module)
    if not module._modules:
        return module
    clone = copy.copy(module)
    clone._modules = {name: None if child is None else _with_fixed_forms(child, noise) for name, child in module._modules.items()}
    return clone


def fine_tune_top(
    model: HybridCNN,
    features: torch.Tensor,
    labels: torch.Tensor,
    noise: NoiseModel | None,
    seed: int,
    recipe: FineTuning = FineTuning(),
) -> HybridCNN:
    """A copy of ``model`` whose classical layers after the base CNN are retrained with the circuits frozen under ``noise``.

    The circuits' angles and the base CNN stay as trained; every other parameter of the
    pointwise block and the head is trained with Adam on ``features``, each quantum layer
    computing its exact expectations under ``noise`` (as its fixed quadratic form).

    Args:
        model: a trained model with quantum layers (not changed).
        features: :func:`feature_maps` of the training images, ``(N, 128, s, s)``.
        labels: ``(N,)``.
        noise: the circuits' noise during fine-tuning; ``None``: noiseless (the control).
        seed: seeds the batches' order and the dropout.
        recipe: epochs, learning rate, batch size.

    Returns:
        The fine-tuned copy, in eval mode, its quantum layers noiseless as trained: evaluate
        it under any condition with :func:`condition_accuracies`.
    """
    tuned = copy.deepcopy(model)
    top = _with_fixed_forms(_top(tuned), noise)  # shares the classical layers of ``tuned``
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam([p for p in top.parameters() if p.requires_grad], lr=recipe.lr)
    loader = DataLoader(TensorDataset(features, labels), batch_size=recipe.batch_size, shuffle=True)
    for _ in range(recipe.epochs):
        top.train()
        for batch, truth in loader:
            optimiser.zero_grad()
            nn.functional.cross_entropy(top(batch), truth).backward()
            optimiser.step()
    return tuned.eval()
