"""The unitary relaxation: the quantum layer's exact read-out, with any unitary instead of the circuit's.

Book: "What makes it work?" (the controls).

:class:`UnitaryReadoutConv2d` keeps everything of
:class:`~qpconv.layers.QuantumPointwiseConv2d` but where the unitaries come from: each
of its ``K`` "circuits" is a free ``2**n x 2**n`` unitary (its first ``C_in`` columns, a
matrix with orthonormal columns), trained through PyTorch's orthogonal parametrisation
(:func:`torch.nn.utils.parametrizations.orthogonal`, unitary for complex matrices). The
read-out is the same exact simulation, :func:`qpconv.simulation.pauli_z_expectations`.
It answers "does the layer need the circuit's structure, or any unitary will do?".
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrizations

from .encoding import check_qubit_count, qubits_for_channels
from .pixelwise import PixelwiseConv2d
from .simulation import pauli_z_expectations

__all__ = ["UnitaryReadoutConv2d"]


class UnitaryReadoutConv2d(PixelwiseConv2d):
    """``<Z_i>`` of ``K`` trainable unitaries on every amplitude-encoded pixel.

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``; channels, qubits, circuits and the
            trimming of outputs as in :class:`~qpconv.layers.QuantumPointwiseConv2d`.
        n_qubits: default ``max(1, ceil(log2(in_channels)))``.
        device: as for ``nn.Conv2d``.
        dtype: ``torch.float32`` (default; unitaries in complex64) or ``torch.float64``.

    Attributes:
        columns: ``(K, 2**n, C_in)`` complex with orthonormal columns, parametrised; the
            trainable tensor underneath is ``parametrizations.columns.original``.

    Initialisation: each unitary is the orthogonal projection of a Gaussian random complex
    matrix (close to Haar-random).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_qubits: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels)
        n_qubits = qubits_for_channels(in_channels) if n_qubits is None else n_qubits
        check_qubit_count(n_qubits, in_channels)
        self.n_qubits = n_qubits
        self.n_circuits = math.ceil(out_channels / n_qubits)
        real = dtype or torch.get_default_dtype()
        if real not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {real}")
        complex_dtype = torch.complex128 if real == torch.float64 else torch.complex64
        shape = (self.n_circuits, 2**n_qubits, in_channels)
        self.columns = nn.Parameter(torch.randn(shape, device=device, dtype=complex_dtype))
        parametrizations.orthogonal(self, "columns")

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, n_qubits={self.n_qubits}, n_circuits={self.n_circuits}"

    def pixel_map(self, pixels: torch.Tensor) -> torch.Tensor:
        values = pauli_z_expectations(pixels, self.columns).reshape(pixels.shape[0], self.n_circuits * self.n_qubits)
        return values[:, : self.out_channels]
