"""``qpconv bench --scaling``: the exact layer's cost from 1 to 12 qubits, next to a classical 1x1 conv.

For every ``n`` of a grid (``C_in = 2**n``, ``C_out = max(1, C_in // 4)``, so
``K = ceil(C_out / n)`` circuits) and every ``L`` of a grid, measured side by side in one
run on the same batch (default 128 feature maps of 4x4 = 2048 pixels):

* the forward+backward time per pixel of ``QuantumPointwiseConv2d(C_in, C_out, L)`` and of
  ``nn.Conv2d(C_in, C_out, 1, bias=False)``;
* the share of the quantum step spent building the circuits' unitary columns
  (:func:`qpconv.circuits.circuit_columns`, forward and backward, timed on their own);
* the FLOP model of :mod:`qpconv.surgery`, a backward pass counted as twice the forward
  (``3 * (P * quantum_pixel_flops + circuit_column_flops)`` per step; the classical conv
  ``3 * P * 2 * C_in * C_out``), the achieved GFLOP/s and their fraction of the machine's
  float32 GEMM peak measured in the same run (``qpconv.bench.gemm_gflops``);
* **peak extra memory** per pixel: the highest resident memory (Linux ``VmHWM``, reset
  through ``/proc/self/clear_refs`` before the step) reached during one forward+backward
  step above the resident memory just before it (after the C allocator gave its free memory
  back, with the input and the layer already allocated), divided by the pixels. It is what the step itself
  needs on top of its input and weights: activations kept for backward, the circuits'
  columns, gradients. NaN where ``/proc`` does not offer it.

Sizes whose estimated memory (:func:`estimated_bytes`) exceeds ``max_gib`` are listed as
skipped, with the estimate, instead of being run. Speed is reported, never asserted.

Above about 8 qubits the circuits' intermediate columns are hundreds of MB each, and
glibc's ``malloc`` maps every block above 32 MB afresh and unmaps it when freed, so each
step also pays the kernel for faulting in and zeroing new 4 KiB pages (system time, most
of the "columns" share at 10 qubits). The bench measures the allocator the process has;
its footer names it (``glibc``, or ``tcmalloc`` or ``jemalloc`` when one is loaded, e.g.
by ``LD_PRELOAD``) and says whether PyTorch's own switch ``THP_MEM_ALLOC_ENABLE`` was set.
Before each memory measurement every one of them is asked to give its free memory back
(``malloc_trim``, tcmalloc's ``MallocExtension_ReleaseFreeMemory``, jemalloc's arena purge),
so the memory column means the same with each.

* ``LD_PRELOAD=libtcmalloc_minimal.so.4`` (Debian: ``libtcmalloc-minimal4``), one of the two
  allocators PyTorch's performance tuning guide suggests, keeps freed blocks for reuse and
  returns them to the system gradually. Measured at ``n = 10``, ``L = 3``, 2048 pixels, one thread, beside
  two training runs (AMD EPYC): building the columns, forward and backward, warm steps of a
  fresh process, two processes each: 5.7-6.8 s with glibc, 4.8-7.1 s with huge pages,
  2.2-3.0 s with tcmalloc; in this bench, two pairs run in turn against huge pages:
  building share 20.3 and 19.9 % -> 10.3 and 13.8 %, forward+backward 11.6 and 10.3 ->
  10.2 and 9.7 ms per pixel, 42.5 and 49.9 -> 53.5 and 65.5 % of the GEMM peak, the
  quantum layer's memory column unchanged (860 KiB per pixel).
* ``THP_MEM_ALLOC_ENABLE=1`` (read once, at the process's first allocation; Linux, where
  ``/sys/kernel/mm/transparent_hugepage/enabled`` allows ``madvise``) makes PyTorch's CPU
  allocator ask for transparent huge pages (2 MB) for blocks of 2 MB and more: up to 512
  times fewer page faults, but every step still maps and zeroes its blocks afresh. Measured
  at the same size on an Intel Xeon, beside two training runs: three forward+backward steps
  in a fresh process, four pairs run in turn (medians), system time 7.6 -> 3.3 s, wall time
  ratio 0.84 (0.83-0.89), peak memory unchanged (2.4 GB); in this bench, four pairs,
  forward+backward 7.9-8.9 -> 5.4-7.4 ms per pixel, the building share 25-35 % -> 19-24 %.
* Glibc's ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296``
  (keep freed memory) builds about as fast as tcmalloc (2.4-3.3 s above), but the process
  then never shrinks.

The paper's CNN, whose buffers are small, trains about as fast with glibc and huge pages
(eight training steps of a batch of 128 in a fresh process, four pairs: wall time ratio
1.06, 0.73-1.23).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from .bench import best_time, forward_backward, gemm_gflops
from .circuits import _KRON_MAX_QUBITS, circuit_columns
from .encoding import MAX_QUBITS
from .layers import QuantumPointwiseConv2d
from .pixelwise import check_channels
from .simulation import stacked_real_columns
from .surgery import circuit_column_flops, classical_pixel_flops, quantum_pixel_flops

__all__ = ["QUICK", "ScalingConfig", "ScalingRow", "c_allocator", "estimated_bytes", "format_scaling", "main", "scaling_table"]


@dataclass(frozen=True)
class ScalingConfig:
    """The grid and the batch of a scaling run.

    Attributes:
        qubits: register sizes ``n`` (``C_in = 2**n``), each in ``1..MAX_QUBITS``.
        layers: block counts ``L``.
        batch, height, width: the feature maps (``P = batch * height * width`` pixels).
        repeats: rounds of each timing (the best one counts).
        max_gib: sizes whose :func:`estimated_bytes` exceed this many GiB are skipped.
        gemm_size: side of the square float32 product that measures the peak.
    """

    qubits: tuple[int, ...] = tuple(range(1, 13))
    layers: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    batch: int = 128
    height: int = 4
    width: int = 4
    repeats: int = 3
    max_gib: float = 6.0
    gemm_size: int = 2048

    @property
    def pixels(self) -> int:
        return self.batch * self.height * self.width


QUICK = ScalingConfig(qubits=(1, 2, 3), layers=(1, 2), batch=2, height=2, width=2, repeats=1, gemm_size=128)
"""Tiny sizes for a smoke test (seconds)."""


@dataclass(frozen=True)
class ScalingRow:
    """One ``(n, L)`` point; the measured fields are NaN when the size was skipped (see ``skipped``).

    Attributes:
        n_qubits, n_layers, in_channels, out_channels, n_circuits, pixels: the layer and batch.
        quantum_us_per_pixel, classical_us_per_pixel: forward+backward microseconds per pixel.
        columns_share: time building the circuit columns (forward+backward) over the quantum step's.
        quantum_gflops, classical_gflops: modelled step FLOPs over the measured time.
        peak_gflops: the run's measured float32 GEMM peak (see :attr:`quantum_fraction`).
        quantum_bytes_per_pixel, classical_bytes_per_pixel: peak extra memory per pixel.
        model_flops_per_pixel: the quantum step's modelled FLOPs per pixel (circuits amortised).
        skipped: why the size was not run (its estimated memory), or ``""``.
    """

    n_qubits: int
    n_layers: int
    in_channels: int
    out_channels: int
    n_circuits: int
    pixels: int
    quantum_us_per_pixel: float = math.nan
    classical_us_per_pixel: float = math.nan
    columns_share: float = math.nan
    quantum_gflops: float = math.nan
    classical_gflops: float = math.nan
    quantum_bytes_per_pixel: float = math.nan
    classical_bytes_per_pixel: float = math.nan
    model_flops_per_pixel: float = math.nan
    peak_gflops: float = math.nan
    skipped: str = ""

    @property
    def quantum_fraction(self) -> float:
        """The quantum step's modelled GFLOP/s over the GEMM peak."""
        return self.quantum_gflops / self.peak_gflops

    @property
    def classical_fraction(self) -> float:
        """The classical conv's GFLOP/s over the GEMM peak."""
        return self.classical_gflops / self.peak_gflops


def estimated_bytes(n_qubits: int, n_layers: int, pixels: int) -> int:
    """Rough memory of one forward+backward step of the scaling layer, for skipping sizes that cannot fit.

    Counts the complex64 ``(K, 2**n, C_in)`` state kept for backward per stage of
    :mod:`qpconv.circuits` (one per block up to 8 qubits, plus its ``(K, 2**n, 2**n)``
    Kronecker matrix; beyond, two per block, for its two half-register Kronecker blocks),
    two more for the stacked columns and their gradient, and three float32 copies of the pixels.
    """
    channels = 2**n_qubits
    n_circuits = math.ceil(max(1, channels // 4) / n_qubits)
    block = 8 * n_circuits * channels * channels
    stages = n_layers * (2 if n_qubits <= _KRON_MAX_QUBITS else 3)
    return block * (stages + 2) + 12 * pixels * channels


_ALLOCATORS = ("tcmalloc", "jemalloc")
"""C allocators that replace glibc's ``malloc`` when loaded (``LD_PRELOAD``), as their libraries are named."""


def c_allocator(maps: str | None = None) -> str:
    """The C allocator of this process: ``"tcmalloc"`` or ``"jemalloc"`` when its library is loaded, else ``"glibc"``.

    Args:
        maps: the text of ``/proc/self/maps`` (default: read it; ``"glibc"`` where there is none).
    """
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            return "glibc"
    return next((name for name in _ALLOCATORS if f"lib{name}" in maps), "glibc")


def _release_free_memory() -> None:
    """Ask the C allocator to give its free memory back to the system, so that the resident size before a step is its floor.

    glibc: ``malloc_trim(0)``; tcmalloc: ``MallocExtension_ReleaseFreeMemory()``; jemalloc:
    ``mallctl("arena.4096.purge")`` (4096 is ``MALLCTL_ARENAS_ALL``). Whichever is not loaded
    is not found and skipped.
    """
    name = ctypes.util.find_library("c")
    if name is not None:
        trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
        if trim is not None:
            trim(0)
    if os.name != "posix":
        return
    process = ctypes.CDLL(None)  # the symbols of every library loaded, a preloaded allocator's among them
    release = getattr(process, "MallocExtension_ReleaseFreeMemory", None)
    if release is not None:
        release()
    mallctl = getattr(process, "mallctl", None)
    if mallctl is not None:
        mallctl(b"arena.4096.purge", None, None, None, ctypes.c_size_t(0))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _peak_extra_bytes(step: Callable[[], None]) -> float:
    """Peak resident memory during one call of ``step`` above the resident memory before it; NaN off Linux."""
    gc.collect()
    _release_free_memory()
    try:
        before = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size
    except OSError:
        return math.nan
    step()
    return max(0, _status_kib("VmHWM") - before) * 1024.0


def _columns_step(layer: QuantumPointwiseConv2d) -> Callable[[], None]:
    """Build the layer's circuit columns and backpropagate a fixed random gradient through them."""
    columns = circuit_columns(layer.ansatz, layer.weights.detach(), layer.in_channels)
    grad = torch.randn_like(stacked_real_columns(columns))

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        stacked = stacked_real_columns(circuit_columns(layer.ansatz, layer.weights, layer.in_channels))
        stacked.backward(grad)

    return step


def _skipped_row(n_qubits: int, n_layers: int, pixels: int, reason: str) -> ScalingRow:
    channels = 2**n_qubits
    out = max(1, channels // 4)
    return ScalingRow(n_qubits, n_layers, channels, out, math.ceil(out / n_qubits), pixels, skipped=reason)


def _measure(n_qubits: int, n_layers: int, config: ScalingConfig) -> ScalingRow:
    channels = 2**n_qubits
    out = max(1, channels // 4)
    pixels = config.pixels
    x = torch.randn(config.batch, channels, config.height, config.width, requires_grad=True)
    layer = QuantumPointwiseConv2d(channels, out, n_layers)
    classical = nn.Conv2d(channels, out, 1, bias=False)
    quantum_step, classical_step = forward_backward(layer, x), forward_backward(classical, x)
    quantum_bytes = _peak_extra_bytes(quantum_step)
    classical_bytes = _peak_extra_bytes(classical_step)
    quantum_seconds = best_time(quantum_step, config.repeats)
    columns_seconds = best_time(_columns_step(layer), config.repeats)
    classical_seconds = best_time(classical_step, config.repeats)
    flops = 3 * (
        pixels * quantum_pixel_flops(channels, n_qubits, layer.n_circuits)
        + circuit_column_flops(channels, n_qubits, layer.n_circuits, n_layers)
    )
    classical_flops = 3 * pixels * classical_pixel_flops(channels, out)
    return ScalingRow(
        n_qubits=n_qubits,
        n_layers=n_layers,
        in_channels=channels,
        out_channels=out,
        n_circuits=layer.n_circuits,
        pixels=pixels,
        quantum_us_per_pixel=quantum_seconds / pixels * 1e6,
        classical_us_per_pixel=classical_seconds / pixels * 1e6,
        columns_share=columns_seconds / quantum_seconds,
        quantum_gflops=flops / quantum_seconds / 1e9,
        classical_gflops=classical_flops / classical_seconds / 1e9,
        quantum_bytes_per_pixel=quantum_bytes / pixels,
        classical_bytes_per_pixel=classical_bytes / pixels,
        model_flops_per_pixel=flops / pixels,
    )


def _check(config: ScalingConfig) -> None:
    if not config.qubits or not config.layers:
        raise ValueError("the grid is empty: give at least one qubit count and one layer count")
    bad = [n for n in config.qubits if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_QUBITS]
    if bad:
        raise ValueError(f"qubit counts must be integers in 1..{MAX_QUBITS}, got {bad}")
    for n_layers in config.layers:
        check_channels(n_layers=n_layers)
    check_channels(batch=config.batch, height=config.height, width=config.width, repeats=config.repeats)
    check_channels(gemm_size=config.gemm_size)
    if not config.max_gib > 0:
        raise ValueError(f"max_gib must be positive, got {config.max_gib}")


def scaling_table(config: ScalingConfig | None = None) -> tuple[list[ScalingRow], float]:
    """Measure every ``(n, L)`` of the grid, side by side with a classical 1x1 conv.

    Args:
        config: the grid and batch; default :class:`ScalingConfig` (``n = 1..12``, ``L = 1..6``,
            128 maps of 4x4).

    Returns:
        ``(rows, peak)``: one :class:`ScalingRow` per ``(n, L)`` in grid order, and the measured
        float32 GEMM peak in GFLOP/s (the best of a measurement before and one after the rows).

    Raises:
        ValueError: an empty grid, a qubit count outside ``1..MAX_QUBITS``, a size that is not a
            positive integer, or a non-positive ``max_gib``.

    Example::

        >>> rows, peak = scaling_table(QUICK)
        >>> [(row.n_qubits, row.n_layers, row.in_channels, row.out_channels, row.n_circuits) for row in rows][:3]
        [(1, 1, 2, 1, 1), (1, 2, 2, 1, 1), (2, 1, 4, 1, 1)]
    """
    config = config or ScalingConfig()
    _check(config)
    torch.manual_seed(0)
    peak = gemm_gflops(config.gemm_size, config.repeats)
    rows: list[ScalingRow] = []
    limit = config.max_gib * 2**30
    for n_qubits in config.qubits:
        for n_layers in config.layers:
            needed = estimated_bytes(n_qubits, n_layers, config.pixels)
            if needed > limit:
                reason = f"needs ~{needed / 2**30:.0f} GiB (> {config.max_gib:g})"
                rows.append(_skipped_row(n_qubits, n_layers, config.pixels, reason))
            else:
                rows.append(_measure(n_qubits, n_layers, config))
    peak = max(peak, gemm_gflops(config.gemm_size, config.repeats))
    return [replace(row, peak_gflops=peak) for row in rows], peak


def _huge_pages_switch() -> str:
    """``THP_MEM_ALLOC_ENABLE`` as the environment holds it now (PyTorch read it at its first allocation)."""
    return os.environ.get("THP_MEM_ALLOC_ENABLE", "unset")


def format_scaling(rows: Sequence[ScalingRow], peak: float) -> str:
    """The rows as a fixed-width text table, with the peak and the threads below it."""
    header = (
        f"{'n':>2} {'L':>2} {'C_in->C_out':>11} {'K':>4} {'q us/px':>9} {'c us/px':>9} {'q/c':>6} "
        f"{'columns':>8} {'q GFLOP/s':>9} {'q %peak':>7} {'c %peak':>7} {'q KiB/px':>9} {'c KiB/px':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        size = f"{r.n_qubits:>2} {r.n_layers:>2} {f'{r.in_channels}->{r.out_channels}':>11} {r.n_circuits:>4}"
        if r.skipped:
            lines.append(f"{size}  skipped: {r.skipped}")
            continue
        lines.append(
            f"{size} {r.quantum_us_per_pixel:>9.3f} {r.classical_us_per_pixel:>9.3f} "
            f"{r.quantum_us_per_pixel / r.classical_us_per_pixel:>6.0f} {100 * r.columns_share:>7.1f}% "
            f"{r.quantum_gflops:>9.1f} {100 * r.quantum_fraction:>6.1f}% {100 * r.classical_fraction:>6.1f}% "
            f"{r.quantum_bytes_per_pixel / 1024:>9.1f} {r.classical_bytes_per_pixel / 1024:>9.1f}"
        )
    lines += [
        "",
        f"forward+backward, {rows[0].pixels if rows else 0} pixels, {torch.get_num_threads()} threads; "
        f"measured float32 GEMM peak {peak:.1f} GFLOP/s; allocator {c_allocator()}; "
        f"THP_MEM_ALLOC_ENABLE={_huge_pages_switch()}",
        "q: QuantumPointwiseConv2d (exact, float32); c: nn.Conv2d 1x1 (float32); columns: share of the quantum step "
        "building the circuits' unitary columns; %peak: modelled FLOPs (qpconv.surgery) over time and peak; "
        "KiB/px: peak extra resident memory per pixel",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``qpconv bench --scaling [--quick] [--qubits N ...] [--layers L ...] [...]``."""
    parser = argparse.ArgumentParser(prog="qpconv bench --scaling", description=__doc__.split("\n\n")[0])
    defaults = ScalingConfig()
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (seconds, for CI)")
    parser.add_argument("--qubits", type=int, nargs="+", help="register sizes n (default 1..12)")
    parser.add_argument("--layers", type=int, nargs="+", help="block counts L (default 1..6)")
    parser.add_argument("--batch", type=int, help=f"feature maps (default {defaults.batch})")
    parser.add_argument("--height", type=int, help=f"map height (default {defaults.height})")
    parser.add_argument("--width", type=int, help=f"map width (default {defaults.width})")
    parser.add_argument("--repeats", type=int, help=f"timing rounds (default {defaults.repeats})")
    parser.add_argument("--max-gib", type=float, help=f"skip sizes estimated above this (default {defaults.max_gib:g})")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else defaults
    config = ScalingConfig(
        qubits=base.qubits if args.qubits is None else tuple(args.qubits),
        layers=base.layers if args.layers is None else tuple(args.layers),
        batch=base.batch if args.batch is None else args.batch,
        height=base.height if args.height is None else args.height,
        width=base.width if args.width is None else args.width,
        repeats=base.repeats if args.repeats is None else args.repeats,
        max_gib=base.max_gib if args.max_gib is None else args.max_gib,
        gemm_size=base.gemm_size,
    )
    try:
        _check(config)
    except ValueError as error:
        parser.error(str(error))
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    rows, peak = scaling_table(config)
    print(format_scaling(rows, peak))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
