"""Evaluate a trained model as a quantum device would run it: noise and shots on every quantum layer.

Book: "On a real quantum computer".

A model trained with exact expectations keeps its weights; :func:`hardware_conditions` gives
each of its :class:`~qpconv.layers.QuantumPointwiseConv2d` layers (its subclasses among them)
a :class:`~qpconv.noise.NoiseModel` and a number of shots for the duration of a ``with``
block, and puts back what each layer had on leaving it, also when the block raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .layers import QuantumPointwiseConv2d, check_device_conditions
from .noise import NoiseModel

__all__ = ["hardware_conditions", "quantum_layers"]


def quantum_layers(model: nn.Module) -> list[QuantumPointwiseConv2d]:
    """Every :class:`~qpconv.layers.QuantumPointwiseConv2d` of ``model`` (itself included), in module order."""
    return [module for module in model.modules() if isinstance(module, QuantumPointwiseConv2d)]


@contextmanager
def hardware_conditions(
    model: nn.Module,
    *,
    noise: NoiseModel | None = None,
    shots: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[list[QuantumPointwiseConv2d]]:
    """Run every quantum layer of ``model`` with ``noise`` and ``shots`` inside the ``with`` block.

    Everything is checked before any layer changes: on a bad argument, nothing is changed.

    Args:
        model: a module holding at least one quantum layer of the exact backend.
        noise: the channels of every circuit (:mod:`qpconv.noise`); ``None``: noiseless.
        shots: runs per pixel and circuit (:mod:`qpconv.shots`); ``None``: exact expectations.
        generator: the shots' random source (reproducible draws); default torch's global one.

    Yields:
        The quantum layers, in module order.

    Raises:
        ValueError: ``model`` has no quantum layer, or one of them cannot run with ``noise`` and
            ``shots`` (:func:`~qpconv.layers.check_device_conditions`).

    Example::

        >>> import torch
        >>> from torch import nn
        >>> from qpconv import NoiseModel, QuantumPointwiseConv2d
        >>> model = nn.Sequential(QuantumPointwiseConv2d(8, 6, n_layers=2), nn.ReLU())
        >>> x = torch.randn(2, 8, 3, 3)
        >>> with hardware_conditions(model, noise=NoiseModel(global_depolarizing=0.5)):
        ...     damped = model[0](x)
        >>> bool(torch.allclose(damped, 0.5 * model[0](x)))  # restored on leaving the block
        True
        >>> with hardware_conditions(model, shots=100, generator=torch.Generator().manual_seed(0)):
        ...     sampled = model[0](x)
        >>> bool(torch.allclose(sampled * 50, (sampled * 50).round(), atol=1e-4))  # means of 100 runs: steps of 2/100
        True
        >>> with hardware_conditions(nn.Linear(2, 2), shots=10):
        ...     pass
        Traceback (most recent call last):
        ...
        ValueError: hardware_conditions: the model has no QuantumPointwiseConv2d layer
    """
    layers = quantum_layers(model)
    if not layers:
        raise ValueError("hardware_conditions: the model has no QuantumPointwiseConv2d layer")
    for layer in layers:
        check_device_conditions(noise, shots, generator, backend=layer.backend, n_qubits=layer.n_qubits)
    saved = [(layer.noise, layer.shots, layer.generator) for layer in layers]
    try:
        for layer in layers:
            layer.noise, layer.shots, layer.generator = noise, shots, generator
        yield layers
    finally:
        for layer, (old_noise, old_shots, old_generator) in zip(layers, saved):
            layer.noise, layer.shots, layer.generator = old_noise, old_shots, old_generator
