"""Exact, batched evaluation of ``<Z_i>`` on amplitude-encoded pixels (book chapters 5 and 6).

For a real input ``x`` (``C`` channels, zero-padded to ``2**n``) and a circuit
with unitary ``U = A + iB``, the noiseless expectation of Pauli-Z on wire ``i`` is

.. math::  \\langle Z_i \\rangle = \\frac{1}{\\lVert x\\rVert^2}
           \\sum_k \\big[(A x)_k^2 + (B x)_k^2\\big] z_{ik},
           \\qquad z_{ik} = 1 - 2\\,\\mathrm{bit}_i(k).

``U`` does not depend on the input, so all pixels of all circuits are one real
matrix product with the stacked ``[A; B]`` blocks of every circuit (only their
first ``C`` columns: padding contributes nothing), an elementwise square, and a
small reduction against the ``z`` signs. Normalisation is applied to the
output (dividing by ``||x||^2``), which is cheaper than normalising the input.

The pixels are processed in chunks whose amplitudes fit in cache, so the
elementwise work runs on cached data and the matrix products run near the
machine's peak (``qpconv bench`` measures it). On the CPU the fused kernels of
:mod:`qpconv.cpu_kernels` give each thread whole chunks and do the elementwise
work in one pass; where they cannot be compiled, the same chunked algorithm
runs as plain PyTorch operations. For the same reason the CPU backward pass
recomputes each chunk's amplitudes ``U x`` instead of keeping them: one more
matrix product on cached data is cheaper than writing all amplitudes to memory
in the forward pass and reading them back (measured: about 10% faster at the
benchmark's reference size), and the layer then keeps only its input and the
``[A; B]`` matrix, as little as a classical 1x1 convolution. On other devices,
where memory is fast and the whole batch is one chunk, the amplitudes are kept
for backward up to ``_KEEP_BYTES`` and recomputed beyond.
"""

from __future__ import annotations

from typing import Any

import torch

from . import cpu_kernels
from .encoding import unit_max_rows

__all__ = ["pauli_z_expectations", "stacked_real_columns", "z_signs"]

_CHUNK_BYTES_PER_THREAD = 2**20
"""Amplitudes per CPU thread in one chunk: they stay in the core's private L2 cache, which
neighbours on a shared machine cannot evict (the shared L3 they can)."""

_REUSE_PIXELS = 256
"""Pixels per CPU thread that share one read of the ``[A; B]`` matrix, at least. Measured at 10 qubits (1024 -> 256
channels, a matrix of 218 MB, 2,048 pixels, one thread): forward+backward 41 s with chunks of 16 pixels, 28 s with 64,
25 s with 256 and about the same with more."""
_MAX_CHUNK_BYTES_PER_THREAD = 64 * 2**20
"""The amplitudes of one chunk per CPU thread stay below this, whatever :data:`_REUSE_PIXELS` asks."""
_KEEP_BYTES = 256 * 2**20
"""Off the CPU, amplitudes up to this size are kept for backward; larger ones are recomputed."""

_CPU_KEEP_BYTES = 0
"""On the CPU, amplitudes are always recomputed in backward (see the module docstring)."""


def z_signs(n_qubits: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """``(2**n, n)`` matrix of eigenvalues of ``Z_i`` on basis state ``|k>`` (wire 0 most significant)."""
    index = torch.arange(2**n_qubits, device=device).unsqueeze(1)
    shifts = torch.arange(n_qubits - 1, -1, -1, device=device)
    return (1 - 2 * ((index >> shifts) & 1)).to(dtype)


def stacked_real_columns(columns: torch.Tensor) -> torch.Tensor:
    """``(K, 2**n, C)`` complex -> ``(K * 2 * 2**n, C)`` real: each circuit's ``[A; B]`` (real; imaginary part).

    One copy of a real view, so that its backward is one copy too (taking ``.real`` and
    ``.imag`` apart costs two complex tensors of zeros and their sum in backward).
    """
    n_circuits, dim, channels = columns.shape
    return torch.view_as_real(columns).permute(0, 3, 1, 2).reshape(n_circuits * 2 * dim, channels)


def _pixels_per_chunk(pixels: torch.Tensor, width: int, threads: int) -> int:
    """Pixels per chunk of ``width`` amplitudes each, for a chunk shared by ``threads`` CPU threads.

    As many as fit :data:`_CHUNK_BYTES_PER_THREAD` per thread. When the ``[A; B]`` matrix
    (``width x C``, read once by every chunk) does not fit that either, as for many qubits,
    at least :data:`_REUSE_PIXELS` per thread (within :data:`_MAX_CHUNK_BYTES_PER_THREAD`).
    """
    if pixels.device.type != "cpu":
        return max(1, pixels.shape[0])
    row_bytes = width * pixels.element_size()
    large = row_bytes * pixels.shape[1] > _CHUNK_BYTES_PER_THREAD
    reuse = min(_REUSE_PIXELS, _MAX_CHUNK_BYTES_PER_THREAD // row_bytes) if large else 0
    return threads * max(16, reuse, _CHUNK_BYTES_PER_THREAD // row_bytes)


class _SignedSquares(torch.autograd.Function):
    """``out[p, k, i] = sum_j (pixels[p] . stacked[k, j])**2 * signs[j, i]``, chunked over pixels, in PyTorch operations."""

    @staticmethod
    def forward(ctx: Any, pixels: torch.Tensor, stacked: torch.Tensor, signs: torch.Tensor, n_circuits: int) -> torch.Tensor:
        width, n_qubits = signs.shape
        dim = width // 2
        out = pixels.new_empty(pixels.shape[0], n_circuits, n_qubits)
        needs_grad = any(ctx.needs_input_grad[:2])
        amplitude_bytes = pixels.shape[0] * stacked.shape[0] * pixels.element_size()
        keep_limit = _CPU_KEEP_BYTES if pixels.device.type == "cpu" else _KEEP_BYTES
        keep = needs_grad and amplitude_bytes <= keep_limit
        kept = pixels.new_empty(pixels.shape[0], stacked.shape[0]) if keep else None
        per_chunk = _pixels_per_chunk(pixels, stacked.shape[0], torch.get_num_threads())
        wire_signs = signs[:dim].T.contiguous()  # (n, 2**n): the z signs of one (real or imaginary) block
        for start in range(0, pixels.shape[0], per_chunk):
            chunk = slice(start, start + per_chunk)
            amplitudes = pixels[chunk] @ stacked.T if kept is None else torch.mm(pixels[chunk], stacked.T, out=kept[chunk])
            parts = amplitudes.view(-1, 2, dim)  # (pixels * circuits, real/imaginary, 2**n)
            probabilities = torch.addcmul(parts[:, 0] * parts[:, 0], parts[:, 1], parts[:, 1])
            # (n, 2**n) @ (2**n, M): a wide product, much faster on CPUs than the skinny (M, 2**n) @ (2**n, n)
            out[chunk] = (wire_signs @ probabilities.T).T.reshape(-1, n_circuits, n_qubits)
        if needs_grad:
            ctx.save_for_backward(pixels, stacked, signs, kept)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        pixels, stacked, signs, kept = ctx.saved_tensors
        need_pixels, need_stacked = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_pixels = torch.empty_like(pixels) if need_pixels else None
        grad_stacked = torch.zeros_like(stacked) if need_stacked else None
        grad_out = (2 * grad_out).contiguous()  # d(a^2)/da = 2a, folded into the small tensor
        per_chunk = _pixels_per_chunk(pixels, stacked.shape[0], torch.get_num_threads())
        for start in range(0, pixels.shape[0], per_chunk):
            chunk = slice(start, start + per_chunk)
            amplitudes = kept[chunk] if kept is not None else pixels[chunk] @ stacked.T
            grad_amplitudes = (grad_out[chunk].view(-1, signs.shape[1]) @ signs.T).view_as(amplitudes)
            grad_amplitudes.mul_(amplitudes)
            if grad_pixels is not None:
                torch.mm(grad_amplitudes, stacked, out=grad_pixels[chunk])
            if grad_stacked is not None:
                grad_stacked.addmm_(grad_amplitudes.T, pixels[chunk])
        return grad_pixels, grad_stacked, None, None


def pauli_z_expectations(pixels: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """``<Z_i>`` of every circuit on every amplitude-encoded pixel.

    Args:
        pixels: real ``(P, C)``: one unnormalised channel vector per row.
        columns: complex ``(K, 2**n, C)`` from :func:`qpconv.circuits.circuit_columns`.

    Returns:
        Real ``(P, K, n)``; ``[p, k, i]`` is ``<Z_i>`` of circuit ``k`` on pixel ``p``,
        in ``[-1, 1]``; exactly 0 for an all-zero pixel (with zero gradient). The scale of a
        pixel changes nothing (see :func:`qpconv.encoding.unit_max_rows`), from 1e-30 to
        1e30 in float32.
    """
    n_circuits, dim, _ = columns.shape
    n_qubits = dim.bit_length() - 1
    pixels = unit_max_rows(pixels).contiguous()
    stacked = stacked_real_columns(columns)
    if pixels.device.type == "cpu" and pixels.dtype in cpu_kernels.DTYPES and cpu_kernels.available():
        chunk = _pixels_per_chunk(pixels, stacked.shape[0], threads=1)
        return cpu_kernels.expectations(pixels, stacked, n_qubits, chunk).view(-1, n_circuits, n_qubits)
    signs = z_signs(n_qubits, pixels.dtype, pixels.device).repeat(2, 1)  # (2 * 2**n, n): real and imaginary rows
    unnormalised = _SignedSquares.apply(pixels, stacked, signs, n_circuits)
    squared_norm = pixels.square().sum(dim=1)
    safe = torch.where(squared_norm > 0, squared_norm, torch.ones_like(squared_norm))
    return unnormalised / safe.reshape(-1, 1, 1)
