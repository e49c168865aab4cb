"""Classical 1x1 layers of the quantum layer's functional form: normalised quadratic forms, and their parts.

Book: "What makes it work?" (the controls and the dequantised layer).

Amplitude encoding followed by a measurement of ``<Z_i>`` makes every output a
*normalised quadratic form* of the pixel's channel vector ``x``::

    y_c(x) = x^T M_c x / ||x||^2,        M_c symmetric (C_in x C_in),

with ``y_c = 0`` for an all-zero pixel (the package's convention, :mod:`qpconv.encoding`).
This module has the classical layers of that form, all drop-ins for
``nn.Conv2d(C_in, C_out, kernel_size=1)`` with the quantum layer's input contract
(:class:`~qpconv.pixelwise.PixelwiseConv2d`):

* :class:`QuadraticFormConv2d`: any matrices ``M`` ``(C_out, C_in, C_in)``, fixed or
  trained; :func:`qpconv.dequantise.dequantise` builds one from a trained quantum layer.
* :class:`NormalisedQuadraticConv2d`: a trainable low-rank form sharing one basis,
  ``M_c = B^T diag(z_c) B`` with ``B`` ``(R, C_in)`` and mixing ``Z`` ``(C_out, R)``:
  every output a weighted sum of the squares of ``R`` linear features of ``x / ||x||``,
  as the quantum layer's outputs are signed sums of the squares of ``2 * 2**n``
  features of each circuit.
* :class:`NormalisedLinearConv2d`: ``W x / ||x|| + b``, the per-pixel normalisation alone.
"""

from __future__ import annotations

import torch
from torch import nn

from .encoding import unit_max_rows
from .pixelwise import PixelwiseConv2d, check_channels

__all__ = ["NormalisedLinearConv2d", "NormalisedQuadraticConv2d", "QuadraticFormConv2d", "normalise_rows", "quadratic_form"]


def normalise_rows(pixels: torch.Tensor) -> torch.Tensor:
    """``x / ||x||`` for every row of ``(P, C)``; all-zero rows stay zero (zero gradient).

    Robust to the scale of ``x`` (``x`` is divided by its largest entry first, see
    :func:`qpconv.encoding.unit_max_rows`), so float32 handles rows from 1e-30 to 1e30.
    """
    scaled = unit_max_rows(pixels)
    norm = torch.linalg.vector_norm(scaled, dim=1, keepdim=True)
    return scaled / torch.where(norm > 0, norm, torch.ones_like(norm))


_CHUNK_ELEMENTS = 2**24
"""Rows of :func:`quadratic_form` are evaluated in chunks whose ``(rows, O, C)`` intermediate
holds at most this many elements (one chunk for the layers' usual sizes)."""


def quadratic_form(pixels: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """``x^T M_c x / ||x||^2`` for every row ``x`` of ``pixels`` ``(P, C)`` and matrix ``M_c`` of ``(O, C, C)`` -> ``(P, O)``.

    0 (with zero gradient) for an all-zero row. Rows are evaluated in chunks, so that memory
    stays bounded for many forms (e.g. the ``K * 2**n`` outcome forms of :mod:`qpconv.shots`).
    """
    unit = normalise_rows(pixels)
    per_chunk = max(1, _CHUNK_ELEMENTS // max(1, matrices.shape[0] * matrices.shape[1]))
    parts = [torch.einsum("pc,ocd,pd->po", rows, matrices, rows) for rows in unit.split(per_chunk)]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class QuadraticFormConv2d(PixelwiseConv2d):
    """``y_c = x^T M_c x / ||x||^2`` at every pixel, for given matrices ``M``.

    Args:
        matrices: ``(C_out, C_in, C_in)``, symmetric.
        trainable: make ``M`` a parameter (``self.matrices``); else a buffer (fixed).

    Raises:
        ValueError: ``matrices`` is not ``(C_out, C_in, C_in)`` real, or not symmetric.
    """

    def __init__(self, matrices: torch.Tensor, trainable: bool = False) -> None:
        if matrices.dim() != 3 or matrices.shape[1] != matrices.shape[2] or matrices.is_complex():
            raise ValueError(f"matrices must be real and (C_out, C_in, C_in), got {tuple(matrices.shape)} {matrices.dtype}")
        out_channels, in_channels = matrices.shape[0], matrices.shape[1]
        super().__init__(in_channels, out_channels)
        if not torch.allclose(matrices, matrices.transpose(1, 2), atol=1e-6 if matrices.dtype == torch.float32 else 1e-12):
            raise ValueError("matrices must be symmetric: M_c = M_c^T for every output c")
        matrices = matrices.detach().clone()
        if trainable:
            self.matrices = nn.Parameter(matrices)
        else:
            self.register_buffer("matrices", matrices)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, trainable={isinstance(self.matrices, nn.Parameter)}"

    def pixel_map(self, pixels: torch.Tensor) -> torch.Tensor:
        return quadratic_form(pixels, self.matrices)


class NormalisedQuadraticConv2d(PixelwiseConv2d):
    """A trainable normalised quadratic form of rank ``R``, one basis shared by all outputs.

    ``y = (B x / ||x||)^2 Z^T`` at every pixel (the square taken elementwise): output ``c``
    is ``x^T B^T diag(Z_c) B x / ||x||^2``. Parameters: ``B`` ``(R, C_in)`` and ``Z``
    ``(C_out, R)``, ``R * (C_in + C_out)`` in all.

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``.
        rank: ``R``, the number of squared features.
        device, dtype: as for ``nn.Conv2d``.

    Initialisation: the rows of ``B`` are random unit vectors and ``Z`` is uniform in
    ``[-1, 1]``, so outputs start in the quantum layer's range.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        rank: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels)
        check_channels(rank=rank)
        self.rank = rank
        self.basis = nn.Parameter(torch.empty(rank, in_channels, device=device, dtype=dtype))
        self.mixing = nn.Parameter(torch.empty(out_channels, rank, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Unit-norm random rows of ``B``; ``Z`` uniform in ``[-1, 1]``."""
        with torch.no_grad():
            nn.init.normal_(self.basis)
            self.basis.div_(torch.linalg.vector_norm(self.basis, dim=1, keepdim=True))
            nn.init.uniform_(self.mixing, -1.0, 1.0)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, rank={self.rank}"

    def matrices(self) -> torch.Tensor:
        """The forms' matrices ``M_c = B^T diag(Z_c) B``, ``(C_out, C_in, C_in)``."""
        return torch.einsum("rc,or,rd->ocd", self.basis, self.mixing, self.basis)

    def pixel_map(self, pixels: torch.Tensor) -> torch.Tensor:
        features = normalise_rows(pixels) @ self.basis.T
        return features.square() @ self.mixing.T


class NormalisedLinearConv2d(PixelwiseConv2d):
    """``y = W x / ||x|| + b`` at every pixel: the quantum layer's per-pixel normalisation, then a plain 1x1.

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``.
        bias: learn ``b`` (as ``nn.Conv2d`` does by default).
        device, dtype: as for ``nn.Conv2d``.

    ``W`` and ``b`` are initialised as ``nn.Linear``'s, which are ``nn.Conv2d(C_in, C_out, 1)``'s.
    An all-zero pixel gives ``b``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels)
        self.linear = nn.Linear(in_channels, out_channels, bias=bias, device=device, dtype=dtype)

    def pixel_map(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.linear(normalise_rows(pixels))
