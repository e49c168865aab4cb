"""Fused CPU kernels of the exact simulation, compiled on first use (book chapter 6, "Gradients").

:mod:`qpconv.simulation` evaluates the layer chunk by chunk of pixels. In plain
PyTorch every operation on a chunk is split over all CPU threads, which then
wait for each other dozens of times per layer call; on a small or shared
machine those waits cost more than the arithmetic (measured: 43 % of the
matrix-product peak with 2 threads against 52 % with 1). The kernels in
``cpu_kernels.cpp`` give each thread whole chunks instead, and fuse the
elementwise work (squares, the sums against the ``z`` signs, the gradient's
sign weights) into one pass over each cached chunk.

They are compiled with :func:`torch.utils.cpp_extension.load` the first time a
CPU layer runs (about half a minute; the build is cached under
``$TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``). Where no
C++ compiler is available the compile fails, a ``RuntimeWarning`` says so
once, and the layer falls back to the plain PyTorch path, which gives the same
results more slowly. Set ``QPCONV_CPU_KERNELS=0`` to use the plain path.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from types import ModuleType

__all__ = ["load", "SOURCE"]

_kernels: ModuleType | None = None
_tried = False

SOURCE = Path(__file__).with_name("cpu_kernels.cpp")
"""The C++ source; its docstring-like header states the tensor conventions."""


def load() -> ModuleType | None:
    """The compiled kernels, or ``None`` when disabled (``QPCONV_CPU_KERNELS=0``) or not compilable.

    Compiles on the first call only. The module has ``expectations(pixels, stacked, n_qubits, rows)``
    and ``expectations_backward(pixels, stacked, out, grad, n_qubits, rows, need_pixels, need_stacked)``;
    ``cpu_kernels.cpp`` states their shapes. :mod:`qpconv.simulation` wraps them as the PyTorch
    operators ``qpconv::cpu_expectations`` and ``qpconv::cpu_expectations_backward``.
    """
    global _kernels, _tried
    if not _tried:
        _tried = True
        _kernels = None if os.environ.get("QPCONV_CPU_KERNELS", "1") == "0" else _compile()
    return _kernels


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
