"""The dequantised layer: a trained quantum pointwise layer as the classical quadratic forms it computes.

Book: "What makes it work?" (section "The dequantised layer").

For a circuit with unitary ``U`` and the encoded pixel ``|x> = x / ||x||`` (real,
zero-padded), the measured value of wire ``i`` is

.. math::  \\langle Z_i \\rangle = \\frac{x^\\top M_i\\, x}{\\lVert x \\rVert^2},
           \\qquad M_i = \\big[\\mathrm{Re}(U^\\dagger Z_i U)\\big]_{C\\times C}
                      = A^\\top D_i A + B^\\top D_i B ,

where ``U = A + iB`` restricted to its first ``C`` columns, ``D_i = diag(z_i)`` holds the
``+-1`` eigenvalues of ``Z_i``, and ``[.]_{CxC}`` is the leading block (the padding
amplitudes are zero; the imaginary part of ``U^dagger Z_i U`` is antisymmetric and drops
out of a real quadratic form). :func:`dequantise` computes these matrices and returns a
:class:`~qpconv.quadratic.QuadraticFormConv2d` that reproduces the quantum layer exactly.

Properties (checked by the tests): each ``M_i`` is symmetric with eigenvalues in
``[-1, 1]``; the full ``2**n x 2**n`` observable ``U^dagger Z_i U`` has trace 0 and
eigenvalues ``+1`` and ``-1``, ``2**(n-1)`` times each; the ``n`` observables of one
circuit commute (one basis, the columns of ``U^dagger``, diagonalises them all), so the
``n`` outputs of a circuit are ``n`` signed sums of the same ``2**n`` squared features
``|(U x)_k|^2``. A trained layer's forms are therefore special: ``K`` shared bases,
``+-1`` spectra. Classical layers of the same form without those constraints are in
:mod:`qpconv.quadratic`.

A layer with a :class:`~qpconv.noise.NoiseModel` computes the same kind of form with
``U^dagger Z_i U`` replaced by ``E^dagger(Z_i)``, the observable evolved backwards through
the noisy circuit (:mod:`qpconv.noise`): :func:`form_matrices`, :func:`full_observables`
and :func:`dequantise` return the noisy ones for such a layer (none of the properties
above then hold: noise shrinks the spectra), the expectations without shot noise.
"""

from __future__ import annotations

import torch

from .circuits import circuit_columns
from .layers import QuantumPointwiseConv2d
from .noise import noisy_forms, noisy_observables
from .quadratic import QuadraticFormConv2d
from .simulation import z_signs

__all__ = ["dequantise", "form_matrices", "full_observables"]


def _columns(layer: QuantumPointwiseConv2d, n_columns: int | None = None) -> torch.Tensor:
    with torch.no_grad():
        return circuit_columns(layer.ansatz, layer.weights.detach(), layer.in_channels if n_columns is None else n_columns)


def form_matrices(layer: QuantumPointwiseConv2d) -> torch.Tensor:
    """The matrices ``M_c`` of every output channel ``c`` of ``layer``, ``(C_out, C_in, C_in)``, symmetric.

    Channel ``c = k * n + i`` is wire ``i`` of circuit ``k``, trimmed to ``C_out`` as the
    layer trims its outputs; computed in the layer's dtype (float64 for float64 layers).
    With ``layer.noise``, the noisy forms (leading block of ``Re E^dagger(Z_i)``).
    """
    if layer.noise is not None:
        with torch.no_grad():
            forms = noisy_forms(layer.ansatz, layer.weights.detach(), layer.in_channels, layer.noise)
        return forms.reshape(-1, layer.in_channels, layer.in_channels)[: layer.out_channels]
    columns = _columns(layer)  # (K, 2**n, C)
    signs = z_signs(layer.n_qubits, columns.real.dtype, columns.device)  # (2**n, n)
    real, imag = columns.real, columns.imag
    matrices = torch.einsum("kjc,ji,kjd->kicd", real, signs, real) + torch.einsum("kjc,ji,kjd->kicd", imag, signs, imag)
    return matrices.reshape(-1, layer.in_channels, layer.in_channels)[: layer.out_channels]


def full_observables(layer: QuantumPointwiseConv2d) -> torch.Tensor:
    """``U_k^dagger Z_i U_k`` on all ``2**n`` basis states, ``(K, n, 2**n, 2**n)`` complex (Hermitian).

    With ``layer.noise``, ``E_k^dagger(Z_i)``, the observables evolved through the noisy circuits.
    """
    if layer.noise is not None:
        with torch.no_grad():
            return noisy_observables(layer.ansatz, layer.weights.detach(), layer.noise)
    unitaries = _columns(layer, 2**layer.n_qubits)  # (K, 2**n, 2**n)
    signs = z_signs(layer.n_qubits, unitaries.real.dtype, unitaries.device).to(unitaries.dtype)
    return torch.einsum("kja,ji,kjb->kiab", unitaries.conj(), signs, unitaries)


def dequantise(layer: QuantumPointwiseConv2d) -> QuadraticFormConv2d:
    """A classical layer that computes exactly what ``layer`` computes (outputs and input gradients).

    Args:
        layer: a (trained) quantum pointwise layer; its weights are read, not changed.

    Returns:
        A :class:`~qpconv.quadratic.QuadraticFormConv2d` holding :func:`form_matrices` as a
        fixed buffer: ``y_c = x^T M_c x / ||x||^2``, 0 for an all-zero pixel, like the quantum layer.

    Example::

        >>> import torch
        >>> from qpconv import QuantumPointwiseConv2d, dequantise
        >>> quantum = QuantumPointwiseConv2d(8, 6, n_layers=2, dtype=torch.float64)
        >>> classical = dequantise(quantum)
        >>> x = torch.randn(2, 8, 3, 3, dtype=torch.float64)
        >>> bool((quantum(x) - classical(x)).abs().max() < 1e-12)
        True
    """
    return QuadraticFormConv2d(form_matrices(layer)).to(layer.weights.device)
