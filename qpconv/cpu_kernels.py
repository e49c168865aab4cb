"""The C++ boundary: fused CPU kernels of the exact simulation, their operators and the fallback.

Book: chapter 6, Gradients (section "Why the exact closed form makes training feasible").

:mod:`qpconv.simulation` evaluates the layer chunk by chunk of pixels. In plain
PyTorch every operation on a chunk is split over all CPU threads, which then wait
for each other dozens of times per layer call; on a small or shared machine those
waits cost more than the arithmetic (measured: 43 % of the matrix-product peak with
2 threads against 52 % with 1). The kernels in ``cpu_kernels.cpp`` give each thread
whole chunks instead, and fuse the elementwise work (squares, the sums against the
``z`` signs, the gradient's sign weights) into one pass over each cached chunk.

This module is the only one that knows about them:

* :func:`load` compiles them with :func:`torch.utils.cpp_extension.load` the first time
  a CPU layer runs (about half a minute; the build is cached under
  ``$TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``). Where no C++
  compiler is available the compile fails, a ``RuntimeWarning`` says so once, and
  :func:`available` is ``False``: the layer then takes the plain PyTorch path, which
  gives the same results more slowly. ``QPCONV_CPU_KERNELS=0`` disables them.
* :func:`expectations` is the differentiable entry point. It calls the PyTorch
  operators ``qpconv::cpu_expectations`` and ``qpconv::cpu_expectations_backward``,
  registered here with fake (meta) implementations and an autograd formula, so that
  ``torch.compile`` traces the layer without a graph break.

Tensor conventions (also at the top of ``cpu_kernels.cpp``): ``pixels`` ``(P, C)`` real,
one unnormalised channel vector per row; ``stacked`` ``(K * 2 * 2**n, C)``, every
circuit's ``[A; B]`` (real and imaginary parts of the first ``C`` columns of its
unitary); the result ``(P, K * n)``, normalised ``<Z_i>``. ``pixels_per_chunk`` is
how many pixels one thread takes at a time.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

__all__ = ["SOURCE", "available", "expectations", "load"]

SOURCE = Path(__file__).with_name("cpu_kernels.cpp")
"""The C++ source; its header states the tensor conventions."""

DTYPES = (torch.float32, torch.float64)
"""Dtypes the kernels handle."""

_kernels: ModuleType | None = None
_tried = False


def load() -> ModuleType | None:
    """The compiled kernels, or ``None`` when disabled (``QPCONV_CPU_KERNELS=0``) or not compilable.

    Compiles on the first call only; a failed compile warns once.
    """
    global _kernels, _tried
    if not _tried:
        _tried = True
        _kernels = None if os.environ.get("QPCONV_CPU_KERNELS", "1") == "0" else _compile()
    return _kernels


def available() -> bool:
    """Whether the fused kernels run here (compiling them on the first call)."""
    return load() is not None


def _compile() -> ModuleType | None:
    # torch logs a CUDA_HOME notice when the module is imported on a machine without CUDA: irrelevant here
    extension_logger = logging.getLogger("torch.utils.cpp_extension")
    level = extension_logger.level
    extension_logger.setLevel(logging.ERROR)
    try:
        from torch.utils.cpp_extension import load as compile_extension

        return compile_extension(
            "qpconv_cpu_kernels",
            sources=[str(SOURCE)],
            extra_cflags=["-O3", "-fopenmp"],
            verbose=False,
        )
    except Exception as error:  # no compiler, no ninja, no Python headers: all mean "use the plain path"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        warnings.warn(
            f"qpconv: the fused CPU kernels could not be compiled ({type(error).__name__}: {first_line}); "
            "using the plain PyTorch path (same results, slower). Set QPCONV_CPU_KERNELS=0 to silence this.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    finally:
        extension_logger.setLevel(level)


def _compiled() -> ModuleType:
    kernels = load()
    if kernels is None:
        raise RuntimeError("qpconv: the fused CPU kernels are not available here (see qpconv.cpu_kernels.available)")
    return kernels


@torch.library.custom_op("qpconv::cpu_expectations", mutates_args=(), device_types="cpu")
def _expectations_op(pixels: torch.Tensor, stacked: torch.Tensor, n_qubits: int, pixels_per_chunk: int) -> torch.Tensor:
    """Normalised ``<Z_i>``, ``(P, K * n)``."""
    return _compiled().expectations(pixels, stacked, n_qubits, pixels_per_chunk)


@_expectations_op.register_fake
def _(pixels: torch.Tensor, stacked: torch.Tensor, n_qubits: int, pixels_per_chunk: int) -> torch.Tensor:
    return pixels.new_empty(pixels.shape[0], stacked.shape[0] // (2 << n_qubits) * n_qubits)


@torch.library.custom_op("qpconv::cpu_expectations_backward", mutates_args=(), device_types="cpu")
def _expectations_backward_op(
    pixels: torch.Tensor,
    stacked: torch.Tensor,
    out: torch.Tensor,
    grad: torch.Tensor,
    n_qubits: int,
    pixels_per_chunk: int,
    need_pixels: bool,
    need_stacked: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of the pixels and of ``stacked`` (each empty when not needed) given ``out`` and its gradient."""
    grads = _compiled().expectations_backward(
        pixels, stacked, out, grad.contiguous(), n_qubits, pixels_per_chunk, need_pixels, need_stacked
    )
    grad_pixels, grad_stacked = (pixels.new_empty(0) if g is None else g for g in grads)
    return grad_pixels, grad_stacked


@_expectations_backward_op.register_fake
def _(
    pixels: torch.Tensor,
    stacked: torch.Tensor,
    out: torch.Tensor,
    grad: torch.Tensor,
    n_qubits: int,
    pixels_per_chunk: int,
    need_pixels: bool,
    need_stacked: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    grad_pixels = torch.empty_like(pixels) if need_pixels else pixels.new_empty(0)
    grad_stacked = torch.empty_like(stacked) if need_stacked else stacked.new_empty(0)
    return grad_pixels, grad_stacked


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    pixels, stacked, ctx.n_qubits, ctx.pixels_per_chunk = inputs
    ctx.save_for_backward(pixels, stacked, output)


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
    pixels, stacked, out = ctx.saved_tensors
    need_pixels, need_stacked = ctx.needs_input_grad[:2]
    grad_pixels, grad_stacked = _expectations_backward_op(
        pixels, stacked, out, grad, ctx.n_qubits, ctx.pixels_per_chunk, need_pixels, need_stacked
    )
    return (grad_pixels if need_pixels else None), (grad_stacked if need_stacked else None), None, None


_expectations_op.register_autograd(_backward, setup_context=_setup_context)


def expectations(pixels: torch.Tensor, stacked: torch.Tensor, n_qubits: int, pixels_per_chunk: int) -> torch.Tensor:
    """Normalised ``<Z_i>`` of every circuit on every pixel by the fused kernels, differentiable.

    Args:
        pixels: ``(P, C)`` contiguous float32/float64 on the CPU.
        stacked: ``(K * 2 * 2**n, C)``, same dtype, contiguous.
        n_qubits: ``n``.
        pixels_per_chunk: pixels one thread takes at a time (the chunk's amplitudes should fit in its cache).

    Returns:
        ``(P, K * n)``; 0 with zero gradient for an all-zero pixel.

    Raises:
        RuntimeError: the kernels are not available (check :func:`available` first), or the
            kernels' own operand checks fail (messages start ``qpconv cpu kernels:``).
    """
    return _expectations_op(pixels, stacked, n_qubits, pixels_per_chunk)
