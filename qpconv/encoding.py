"""Amplitude encoding of channel vectors (book chapter 2, "Amplitude encoding").

A pixel's channel vector ``x`` (``C`` real values) becomes the ``n``-qubit state

.. math::  |x\\rangle = \\frac{1}{\\lVert x \\rVert} \\sum_{j=0}^{C-1} x_j |j\\rangle ,
           \\qquad n = \\lceil \\log_2 C \\rceil ,

padded with zero amplitudes up to ``2**n`` (``j >= C``). Basis state ``|j>`` is
the binary expansion of ``j`` with **wire 0 as the most significant bit**, the
convention of PennyLane's ``qml.AmplitudeEmbedding(x, wires=range(n),
pad_with=0.0, normalize=True)``.

Zero vectors (frequent after a ReLU) have no normalised state; PennyLane
silently returns NaN for them. Here they encode to the all-zero vector, so the
quantum layer outputs ``0`` on every channel for a zero pixel: the mean of
``<Z_i>`` over all input directions, and exactly what a bias-free classical 1x1
convolution outputs. Gradients there are zero (finite).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "MAX_QUBITS",
    "NonFiniteInputError",
    "amplitude_encode",
    "check_finite",
    "check_qubit_count",
    "qubits_for_channels",
    "unit_max_rows",
]

MAX_QUBITS = 14
"""Largest register the package simulates exactly.

The exact backend stores, per circuit, the first ``C_in`` columns of the
``2**n x 2**n`` unitary (complex), and autograd keeps one such block per gate.
At 15 qubits (more than 16384 channels) a single block of one circuit is 2 GiB
in complex64, far beyond what a layer of several circuits can hold.
"""


def qubits_for_channels(channels: int) -> int:
    """Number of qubits that amplitude-encodes ``channels`` values.

    Args:
        channels: length of the channel vector, ``>= 1``.

    Returns:
        ``max(1, ceil(log2(channels)))``.

    Raises:
        ValueError: if ``channels < 1`` or more than ``MAX_QUBITS`` qubits are needed.

    Example::

        >>> qubits_for_channels(64), qubits_for_channels(65), qubits_for_channels(1)
        (6, 7, 1)
    """
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")
    n_qubits = max(1, math.ceil(math.log2(channels)))
    check_qubit_count(n_qubits, channels)
    return n_qubits


def check_qubit_count(n_qubits: int, channels: int) -> None:
    """Raise ``ValueError`` unless ``n_qubits`` qubits can hold ``channels`` amplitudes.

    Args:
        n_qubits: requested register size.
        channels: number of amplitudes to encode.
    """
    if not isinstance(n_qubits, int) or n_qubits < 1:
        raise ValueError(f"n_qubits must be a positive integer, got {n_qubits!r}")
    if 2**n_qubits < channels:
        needed = max(1, math.ceil(math.log2(channels)))
        raise ValueError(
            f"n_qubits={n_qubits} holds only {2**n_qubits} amplitudes but in_channels={channels} needs at least {needed} qubits"
        )
    if n_qubits > MAX_QUBITS:
        raise ValueError(
            f"n_qubits={n_qubits} exceeds the maximum of {MAX_QUBITS}: the exact simulation keeps "
            f"a complex C_in x 2**n block of every circuit's unitary (and one per gate for autograd), "
            f"which at {n_qubits} qubits needs more than "
            f"{(2**n_qubits) * channels * 8 / 2**30:.0f} GiB per circuit per gate in complex64"
        )


class NonFiniteInputError(ValueError):
    """The input of a quantum layer holds NaN or infinite values.

    In training this is how divergence usually shows first: an earlier layer's weights
    became non-finite (:mod:`qpconv.replication.training` reports it as such).
    """


def check_finite(x: torch.Tensor, name: str = "input") -> None:
    """Raise :class:`NonFiniteInputError` (a ``ValueError``) if ``x`` holds NaN or infinite values."""
    if bool(torch.isfinite(x.sum())):  # fast path: any NaN or infinity makes the sum non-finite
        return
    n_bad = int((~torch.isfinite(x)).sum())  # the sum may also have overflowed on finite values
    if n_bad:
        raise NonFiniteInputError(f"{name} contains {n_bad} NaN or infinite value(s); the quantum layer needs finite inputs")


def unit_max_rows(x: torch.Tensor) -> torch.Tensor:
    """Each vector along the last axis divided by its largest absolute value (all-zero vectors unchanged).

    The encoded state, and so every output of the quantum layer, depends only on the
    direction of ``x``, so this changes no result; it keeps ``||x||^2`` between 1 and
    ``C``, so that pixels from 1e-30 to 1e30 are normalised exactly in float32 instead
    of overflowing (NaN) or underflowing (taken for a zero pixel). The scale is a
    constant for autograd, so gradients are those of the unscaled ``x``.
    """
    with torch.no_grad():
        scale = x.abs().amax(dim=-1, keepdim=True) if x.shape[-1] else torch.ones_like(x[..., :1])
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return x / scale


def amplitude_encode(x: torch.Tensor, n_qubits: int | None = None) -> torch.Tensor:
    """Pad with zeros to ``2**n_qubits`` and normalise along the last axis.

    Args:
        x: real tensor of shape ``(..., C)``.
        n_qubits: register size; default ``qubits_for_channels(C)``.

    Returns:
        Tensor of shape ``(..., 2**n_qubits)``: the real amplitudes of the encoded
        state, wire 0 most significant. Rows that are all zero stay all zero
        (see the module docstring).

    Raises:
        ValueError: for NaN/Inf values or a register too small for ``C``.

    Example::

        >>> amplitude_encode(torch.tensor([[3.0, 4.0, 0.0]]))
        tensor([[0.6000, 0.8000, 0.0000, 0.0000]])
    """
    channels = x.shape[-1]
    n_qubits = qubits_for_channels(channels) if n_qubits is None else n_qubits
    check_qubit_count(n_qubits, channels)
    check_finite(x)
    x = unit_max_rows(x)
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    safe_norm = torch.where(norm > 0, norm, torch.ones_like(norm))
    padded = torch.nn.functional.pad(x, (0, 2**n_qubits - channels))
    return padded / safe_norm
