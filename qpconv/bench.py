"""``qpconv bench``: how fast is the exact quantum pointwise layer? (book chapter 6, "Gradients").

Measures, side by side in one run, microseconds per pixel of the forward and
forward+backward passes of one quantum pointwise layer at a reference
configuration (``C_in = 64`` -> 6 qubits, ``L = 3``, ``C_out = 64`` -> 11
circuits, a batch of 128 feature maps of 7x7 = 6272 pixels):

* the exact backend (float32 and float64);
* PennyLane ``default.qubit`` with parameter broadcasting over all pixels and backprop
  (float32 inputs), the fastest PennyLane path;
* PennyLane ``default.qubit`` pixel by pixel with the parameter-shift rule (the paper's
  recipe), timed on a few pixels and one circuit and extrapolated (labelled);
* a classical ``nn.Conv2d(64, 64, 1)``;
* the exact layer with gate noise (:data:`BENCH_NOISE`: depolarising after every gate,
  simulated exactly, :mod:`qpconv.noise`) and with 1,000 shots per pixel and circuit
  (:mod:`qpconv.shots`), float32;
* PennyLane ``default.mixed`` with the same noise, broadcast over a few pixels with backprop,
  timed on one circuit and extrapolated (labelled);
* with ``--peers`` (the ``peers`` extra), peer simulators of the same circuits, each checked
  against the exact layer before it is timed (:mod:`qpconv.bench_peers`): tensorcircuit-ng on
  JAX, torchquantum-ng, PennyLane ``lightning.qubit`` with the adjoint method (extrapolated),
  beside the ``default.qubit`` broadcast row (then checked as well);

plus the machine's measured float32 matrix-product throughput and the exact
layer's fraction of it. Speed is reported, never asserted: this is a benchmark,
not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import cpu_kernels
from .layers import QuantumPointwiseConv2d
from .noise import NoiseModel

__all__ = [
    "BENCH_NOISE",
    "QUICK",
    "BenchConfig",
    "BenchRow",
    "BenchSummary",
    "best_time",
    "extrapolated_rows",
    "format_table",
    "forward_backward",
    "gemm_gflops",
    "main",
    "run_benchmark",
]

BENCH_NOISE = NoiseModel(single_qubit_depolarizing=1e-3, two_qubit_depolarizing=1e-2)
"""The noise of the noisy rows, depolarising after every gate (1e-3 after single-qubit, 1e-2 after two-qubit gates)."""


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of the benchmarked layer; defaults are the reference configuration.

    Attributes:
        in_channels, out_channels, n_layers: the layer.
        batch, height, width: the feature maps of the exact and classical rows.
        repeats: rounds of each timing (the best one counts).
        pennylane_batch: feature maps of ``height x width`` for the broadcast PennyLane rows
            (they are slow; their time per pixel is what is reported).
        shift_pixels: pixels of the per-pixel parameter-shift rows (extrapolated).
        shots: shots per pixel and circuit of the shot-sampled row.
        mixed_pixels: pixels of the PennyLane ``default.mixed`` rows (one circuit, extrapolated).
        peer_batch: feature maps of ``height x width`` for the batched peer rows (``--peers``).
        adjoint_pixels: pixels of the per-pixel ``lightning.qubit`` adjoint peer row (extrapolated).
    """

    in_channels: int = 64
    out_channels: int = 64
    n_layers: int = 3
    batch: int = 128
    height: int = 7
    width: int = 7
    repeats: int = 10
    pennylane_batch: int = 128
    shift_pixels: int = 2
    shots: int = 1000
    mixed_pixels: int = 8
    peer_batch: int = 128
    adjoint_pixels: int = 2

    @property
    def pixels(self) -> int:
        return self.batch * self.height * self.width


QUICK = BenchConfig(repeats=3, pennylane_batch=2, shift_pixels=1, mixed_pixels=2, peer_batch=2, adjoint_pixels=1)
"""The book's quick run, with the reference layer and batch for the exact and classical rows (so their
figures are those of ``qpconv bench``), fewer repeats, and PennyLane and the peers timed on 98 pixels."""


@dataclass(frozen=True)
class BenchRow:
    """One line of the table: ``seconds`` per call of ``pass_`` over ``pixels`` pixels."""

    method: str
    pass_: str
    seconds: float
    pixels: int
    note: str = ""

    @property
    def us_per_pixel(self) -> float:
        return self.seconds / self.pixels * 1e6


@dataclass(frozen=True)
class BenchSummary:
    """What a benchmark run found, besides its rows.

    Attributes:
        gemm_gflops: measured float32 ``2048^3`` matrix-product throughput (the peak).
        exact_gflops: the exact float32 layer's forward+backward throughput (3 matrix products).
        fraction_of_peak: ``exact_gflops / gemm_gflops``.
        speedup_vs_pennylane: best PennyLane forward+backward time over the exact float32 one
            (``None`` without PennyLane: ``pip install 'qpconv[pennylane]'``).
        noise_overhead: the noisy exact layer's forward+backward time over the noiseless one's.
        shots_overhead: the shot-sampled layer's forward+backward time over the noiseless one's.
        noisy_speedup_vs_default_mixed: PennyLane ``default.mixed`` forward+backward time per
            pixel over the noisy exact layer's (``None`` without PennyLane).
        n_qubits, n_circuits, pixels: the benchmarked layer and batch.
        threads: torch CPU threads.
        cpu_kernels: whether the fused CPU kernels of :mod:`qpconv.cpu_kernels` ran.
        peers: whether the peer rows were asked for (``--peers``).
        fastest_peer: the peer (PennyLane ``default.qubit`` broadcast included) with the shortest
            forward+backward time per pixel; ``None`` without peers or when none was timed.
        speedup_vs_fastest_peer: that peer's forward+backward time per pixel over the exact
            float32 layer's; ``None`` likewise.
    """

    gemm_gflops: float
    exact_gflops: float
    fraction_of_peak: float
    speedup_vs_pennylane: float | None
    noise_overhead: float
    shots_overhead: float
    noisy_speedup_vs_default_mixed: float | None
    n_qubits: int
    n_circuits: int
    pixels: int
    threads: int
    cpu_kernels: bool
    peers: bool = False
    fastest_peer: str | None = None
    speedup_vs_fastest_peer: float | None = None


def best_time(fn: Callable[[], object], repeats: int, min_seconds: float = 0.05) -> float:
    """Smallest mean wall time of ``fn`` over ``repeats`` rounds (each at least ``min_seconds``)."""
    fn()
    best = math.inf
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return best


def gemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Measured float32 ``size^3`` matrix-product throughput of this machine, GFLOP/s."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / best_time(lambda: a @ b, repeats) / 1e9


def forward_backward(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """A step to time: clear ``module``'s and ``x``'s gradients, then backpropagate the sum of ``module(x)``."""

    def step() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x).sum().backward()

    return step


def _time_module(name: str, module: nn.Module, x: torch.Tensor, repeats: int, note: str = "") -> list[BenchRow]:
    pixels = x.shape[0] * x.shape[2] * x.shape[3]

    def forward() -> None:
        with torch.no_grad():
            module(x)

    return [
        BenchRow(name, "forward", best_time(forward, repeats), pixels, note),
        BenchRow(name, "forward+backward", best_time(forward_backward(module, x), repeats), pixels, note),
    ]


def extrapolated_rows(
    name: str,
    forward: Callable[[], object],
    forward_backward: Callable[[], object],
    scale: float,
    config: BenchConfig,
    note: str,
) -> list[BenchRow]:
    """The two rows of a slow reference timed once on a sample of the work, each time multiplied by ``scale``."""
    return [
        BenchRow(name, "forward", best_time(forward, 1, 0) * scale, config.pixels, note),
        BenchRow(name, "forward+backward", best_time(forward_backward, 1, 0) * scale, config.pixels, note),
    ]


def _parameter_shift_rows(config: BenchConfig, layer: QuantumPointwiseConv2d) -> list[BenchRow]:
    """Per-pixel PennyLane parameter-shift timings of one circuit, extrapolated to the whole layer."""
    from .pennylane_backend import build_qnode

    pixel_qnode = build_qnode(layer.ansatz, layer.n_qubits, "default.qubit", "parameter-shift")
    pixels = torch.randn(config.shift_pixels, config.in_channels)
    weights = layer.weights[0].detach().clone().requires_grad_(True)

    def forward() -> None:
        with torch.no_grad():
            for pixel in pixels:
                pixel_qnode(pixel, weights)

    def forward_backward() -> None:
        for pixel in pixels:
            torch.stack(list(pixel_qnode(pixel, weights))).sum().backward()

    scale = layer.n_circuits * config.pixels / config.shift_pixels
    note = f"timed on {config.shift_pixels} pixel(s) x 1 circuit, extrapolated x{scale:.0f}"
    return extrapolated_rows(
        "PennyLane default.qubit, per pixel, parameter-shift", forward, forward_backward, scale, config, note
    )


def _default_mixed_rows(config: BenchConfig, layer: QuantumPointwiseConv2d) -> list[BenchRow]:
    """PennyLane ``default.mixed`` with :data:`BENCH_NOISE`, one circuit on a few pixels, extrapolated to the layer."""
    from .pennylane_backend import build_noisy_qnode, pennylane_expectations

    qnode = build_noisy_qnode(layer.ansatz, layer.n_qubits, BENCH_NOISE, "backprop")
    pixels = torch.randn(config.mixed_pixels, config.in_channels, requires_grad=True)
    weights = layer.weights[:1].detach().clone().requires_grad_(True)

    def forward() -> None:
        with torch.no_grad():
            pennylane_expectations(pixels, weights, qnode)

    def forward_backward() -> None:
        pennylane_expectations(pixels, weights, qnode).sum().backward()

    scale = layer.n_circuits * config.pixels / config.mixed_pixels
    note = f"same noise; timed on {config.mixed_pixels} pixels (broadcast) x 1 circuit, extrapolated x{scale:.0f}"
    return extrapolated_rows(
        "PennyLane default.mixed, noisy, broadcast, backprop", forward, forward_backward, scale, config, note
    )


def _checked_broadcast_rows(
    config: BenchConfig, broadcast: QuantumPointwiseConv2d, layer: QuantumPointwiseConv2d
) -> list[BenchRow]:
    """The PennyLane broadcast row's module checked against the exact ``layer`` as a peer: ``[]``, or its "not timed" row."""
    from .bench_peers import PeerDisagreement, PennyLaneBroadcastPeer, check_agreement, not_timed_row

    try:
        check_agreement(PennyLaneBroadcastPeer(broadcast), layer)
    except PeerDisagreement as error:
        return [not_timed_row(PennyLaneBroadcastPeer.label, error, config.pixels)]
    return []


def run_benchmark(
    config: BenchConfig | None = None, quick: bool = False, peers: bool = False
) -> tuple[list[BenchRow], BenchSummary]:
    """Run every measurement of the table.

    Args:
        config: sizes; default the reference configuration (``QUICK`` when ``quick``).
        quick: fewer repeats and fewer PennyLane pixels (:data:`QUICK`), for the book's quick mode and CI.
        peers: add the peer simulators' rows (:mod:`qpconv.bench_peers`), each checked against the
            exact layer first, and check the PennyLane broadcast row's module as well.

    Returns:
        ``(rows, summary)``, see :class:`BenchSummary`.
    """
    config = config or (QUICK if quick else BenchConfig())
    torch.manual_seed(0)
    shape = (config.batch, config.in_channels, config.height, config.width)
    rows: list[BenchRow] = []
    peak_before = gemm_gflops(repeats=config.repeats)
    for dtype in (torch.float32, torch.float64):
        layer = QuantumPointwiseConv2d(config.in_channels, config.out_channels, config.n_layers, dtype=dtype)
        x = torch.randn(shape, dtype=dtype, requires_grad=True)
        rows += _time_module(f"qpconv exact ({str(dtype).removeprefix('torch.')})", layer, x, config.repeats)
    noisy = QuantumPointwiseConv2d(config.in_channels, config.out_channels, config.n_layers, noise=BENCH_NOISE)
    sampled = QuantumPointwiseConv2d(config.in_channels, config.out_channels, config.n_layers, shots=config.shots)
    x = torch.randn(shape, requires_grad=True)
    rows += _time_module("qpconv exact + gate noise (float32)", noisy, x, config.repeats, "depolarising after every gate")
    note = "no gate noise; straight-through gradient; 1 round (sampling dominates)"
    rows += _time_module(f"qpconv exact, {config.shots} shots (float32)", sampled, x, 1, note)
    peak = max(peak_before, gemm_gflops(repeats=config.repeats))
    classical = nn.Conv2d(config.in_channels, config.out_channels, 1, bias=False)
    rows += _time_module("classical nn.Conv2d 1x1 (float32)", classical, torch.randn(shape, requires_grad=True), config.repeats)
    peer_candidates: list[BenchRow] = []
    if importlib.util.find_spec("pennylane") is not None:
        broadcast = QuantumPointwiseConv2d(
            config.in_channels, config.out_channels, config.n_layers, backend="pennylane", diff_method="backprop"
        )
        broadcast.load_state_dict(layer.state_dict())
        pennylane_shape = (config.pennylane_batch, config.in_channels, config.height, config.width)
        pennylane_pixels = config.pennylane_batch * config.height * config.width
        refused = _checked_broadcast_rows(config, broadcast, layer) if peers else []
        broadcast_rows = refused or _time_module(
            "PennyLane default.qubit, broadcast, backprop",
            broadcast,
            torch.randn(pennylane_shape, requires_grad=True),
            1,
            f"float32 inputs, {pennylane_pixels} pixels in one broadcast QNode call per circuit",
        )
        rows += broadcast_rows
        rows += _parameter_shift_rows(config, broadcast)
        rows += _default_mixed_rows(config, noisy)
        peer_candidates += broadcast_rows if peers else []
    if peers:
        from .bench_peers import peer_rows

        checked_peers = peer_rows(config, layer)
        rows += checked_peers
        peer_candidates += checked_peers

    def fwd_bwd(method: str) -> BenchRow:
        return next(r for r in rows if r.method.startswith(method) and r.pass_ == "forward+backward")

    exact, noisy_row = fwd_bwd("qpconv exact (float32)"), fwd_bwd("qpconv exact + gate noise")
    mixed = [r for r in rows if r.method.startswith("PennyLane default.mixed") and r.pass_ == "forward+backward"]
    pennylane = [r.us_per_pixel for r in rows if r.method.startswith("PennyLane default.qubit") and r.pass_ == "forward+backward"]
    timed_peers = [r for r in peer_candidates if r.pass_ == "forward+backward" and math.isfinite(r.seconds)]
    fastest = min(timed_peers, key=lambda r: r.us_per_pixel) if timed_peers else None
    n_qubits = layer.n_qubits
    flops = 3 * 2 * config.pixels * config.in_channels * 2 * layer.n_circuits * 2**n_qubits
    exact_gflops = flops / exact.seconds / 1e9
    summary = BenchSummary(
        gemm_gflops=peak,
        exact_gflops=exact_gflops,
        fraction_of_peak=exact_gflops / peak,
        speedup_vs_pennylane=min(pennylane) / exact.us_per_pixel if pennylane else None,
        noise_overhead=noisy_row.us_per_pixel / exact.us_per_pixel,
        shots_overhead=fwd_bwd("qpconv exact, ").us_per_pixel / exact.us_per_pixel,
        noisy_speedup_vs_default_mixed=mixed[0].us_per_pixel / noisy_row.us_per_pixel if mixed else None,
        n_qubits=n_qubits,
        n_circuits=layer.n_circuits,
        pixels=config.pixels,
        threads=torch.get_num_threads(),
        cpu_kernels=cpu_kernels.available(),
        peers=peers,
        fastest_peer=fastest.method if fastest else None,
        speedup_vs_fastest_peer=fastest.us_per_pixel / exact.us_per_pixel if fastest else None,
    )
    return rows, summary


def format_table(rows: list[BenchRow], summary: BenchSummary) -> str:
    """Render the rows and summary as a fixed-width text table."""
    exact = {r.pass_: r.us_per_pixel for r in rows if r.method == "qpconv exact (float32)"}
    header = f"{'method':<52} {'pass':<17} {'us/pixel':>12} {'x exact fp32':>13}  note"
    lines = [header, "-" * len(header)]
    for r in rows:
        if math.isnan(r.seconds):  # a peer that was not timed: its note says why
            lines.append(f"{r.method:<52} {r.pass_:<17} {'-':>12} {'-':>13}  {r.note}")
            continue
        ratio = r.us_per_pixel / exact[r.pass_]
        lines.append(f"{r.method:<52} {r.pass_:<17} {r.us_per_pixel:>12.3f} {ratio:>13.1f}  {r.note}")
    lines += [
        "",
        f"layer: {summary.n_qubits} qubits, {summary.n_circuits} circuits, "
        f"{summary.pixels} pixels, {summary.threads} threads, "
        f"fused CPU kernels: {'yes' if summary.cpu_kernels else 'no (plain PyTorch path)'}",
        f"measured float32 GEMM peak (2048^3):     {summary.gemm_gflops:8.1f} GFLOP/s",
        f"exact float32 forward+backward:          {summary.exact_gflops:8.1f} GFLOP/s "
        f"= {100 * summary.fraction_of_peak:.0f}% of peak (3 matrix products of 2*P*C_in*2*K*2^n flops)",
        f"exact float32 vs best PennyLane path:    {summary.speedup_vs_pennylane:8.0f}x faster (forward+backward)"
        if summary.speedup_vs_pennylane is not None
        else "PennyLane rows left out: PennyLane is not installed (pip install 'qpconv[pennylane]')",
        f"gate noise, exact:                       {summary.noise_overhead:8.1f}x the noiseless layer (forward+backward)",
        f"shots, sampled:                          {summary.shots_overhead:8.1f}x the noiseless layer (forward+backward)",
    ]
    if summary.noisy_speedup_vs_default_mixed is not None:
        lines.append(
            f"noisy exact vs PennyLane default.mixed:  {summary.noisy_speedup_vs_default_mixed:8.0f}x faster per pixel "
            "(forward+backward, same noise)"
        )
    if summary.speedup_vs_fastest_peer is not None:
        lines.append(
            f"exact float32 vs fastest peer:           {summary.speedup_vs_fastest_peer:8.1f}x faster "
            f"(forward+backward; fastest: {summary.fastest_peer})"
        )
    elif summary.peers:
        lines.append("exact float32 vs fastest peer:           no peer was timed (see the rows' notes)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``qpconv bench [--quick] [--threads N] [--peers]``; ``--scaling`` runs :mod:`qpconv.bench_scaling`."""
    argv = sys.argv[1:] if argv is None else argv
    if "--scaling" in argv:  # the layer at scale, with its own options
        from .bench_scaling import main as scaling_main

        return scaling_main([arg for arg in argv if arg != "--scaling"])
    parser = argparse.ArgumentParser(
        prog="qpconv bench",
        description=__doc__.split("\n\n")[0],
        epilog="qpconv bench --scaling [...]: the layer's cost from 1 to 12 qubits beside a classical 1x1 conv "
        "(options: qpconv bench --scaling --help)",
    )
    parser.add_argument("--quick", action="store_true", help="small batch and few repeats (seconds, for CI/the book)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also time peer simulators of the same circuits (tensorcircuit-ng, torchquantum-ng, lightning.qubit adjoint), "
        "each checked against the exact layer first (pip install 'qpconv[peers]'; minutes)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    rows, summary = run_benchmark(quick=args.quick, peers=args.peers)
    print(format_table(rows, summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
