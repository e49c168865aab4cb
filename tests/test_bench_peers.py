"""The peer rows of ``qpconv bench --peers``: a peer is timed only after it agrees with the exact layer.

The agreement check and the rows are tested with peers written here on the exact backend (one
of them deliberately wrong), so they run without the ``peers`` extra; each real peer is tested
where its library is installed (``pytest.importorskip``), on a small layer whose channels are
padded (5 -> 8 amplitudes) and whose outputs are truncated (3 circuits x 3 qubits -> 7).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import types

import pytest
import torch
from torch_threads import torch_threads

from qpconv import bench, bench_peers
from qpconv.bench import BenchConfig, format_table, run_benchmark
from qpconv.bench_peers import (
    CHECK_PIXELS,
    TOLERANCE,
    LightningAdjointPeer,
    Peer,
    PeerDisagreement,
    PennyLaneBroadcastPeer,
    TensorCircuitPeer,
    TorchPeer,
    TorchQuantumPeer,
    check_agreement,
    peer_rows,
)
from qpconv.circuits import circuit_columns
from qpconv.layers import QuantumPointwiseConv2d
from qpconv.simulation import pauli_z_expectations

TINY = BenchConfig(
    in_channels=5,
    out_channels=7,
    n_layers=2,
    batch=1,
    height=2,
    width=2,
    repeats=1,
    pennylane_batch=1,
    shift_pixels=1,
    shots=10,
    mixed_pixels=1,
    peer_batch=1,
    adjoint_pixels=1,
)
"""A benchmark of seconds: 3 qubits, 3 circuits, 4 pixels."""

NO_PEER_METHODS = [
    "qpconv exact (float32)",
    "qpconv exact (float64)",
    "qpconv exact + gate noise (float32)",
    "qpconv exact, 10 shots (float32)",
    "classical nn.Conv2d 1x1 (float32)",
    "PennyLane default.qubit, broadcast, backprop",
    "PennyLane default.qubit, per pixel, parameter-shift",
    "PennyLane default.mixed, noisy, broadcast, backprop",
]
"""The table's methods without ``--peers`` (two rows each, forward and forward+backward)."""


def small_layer(**kwargs) -> QuantumPointwiseConv2d:
    torch.manual_seed(3)
    return QuantumPointwiseConv2d(TINY.in_channels, TINY.out_channels, TINY.n_layers, **kwargs)


class ExactPeer(TorchPeer):
    """The exact backend's own maths written as a peer: it agrees by construction."""

    label = "exact backend, as a peer"
    modules = ("torch",)

    def expectations(self, pixels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return pauli_z_expectations(pixels, circuit_columns("strongly_entangling", weights, self.in_channels))  # (P, K, n)

    def values(self, pixels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.expectations(pixels, weights).reshape(len(pixels), -1)[:, : self.out_channels]


class ReversedWiresPeer(ExactPeer):
    """Reads ``<Z_{n-1-i}>`` where ``<Z_i>`` belongs: a peer with its wires permuted."""

    label = "exact backend, wires reversed"

    def values(self, pixels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.expectations(pixels, weights).flip(-1).reshape(len(pixels), -1)[:, : self.out_channels]


class FrozenInputsPeer(ExactPeer):
    """Right values, but no gradient w.r.t. the inputs."""

    label = "exact backend, inputs detached"

    def values(self, pixels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return super().values(pixels.detach(), weights) + 0 * pixels.sum()


class UninstalledPeer(ExactPeer):
    label = "a peer whose library is missing"
    modules = ("qpconv_test_no_such_library",)


def test_a_correct_peer_agrees_to_the_tolerance():
    assert 0 <= check_agreement(ExactPeer(small_layer()), small_layer()) <= TOLERANCE


def test_a_peer_with_permuted_wires_is_refused():
    message = (
        rf"^exact backend, wires reversed disagrees with the exact layer on {CHECK_PIXELS} pixels: "
        r"max \|difference\| of the values is \S+ > 1e-05; not timed$"
    )
    with pytest.raises(PeerDisagreement, match=message):
        check_agreement(ReversedWiresPeer(small_layer()), small_layer())


def test_a_peer_with_the_right_values_but_wrong_gradients_is_refused():
    with pytest.raises(
        PeerDisagreement, match=r"max \|difference\| of the gradient w\.r\.t\. the inputs is \S+ > 1e-05; not timed$"
    ):
        check_agreement(FrozenInputsPeer(small_layer()), small_layer())


def test_peers_simulate_only_the_noiseless_strongly_entangling_layer():
    with pytest.raises(ValueError, match=r"^peers simulate a noiseless strongly entangling layer without shots, got "):
        ExactPeer(small_layer(ansatz="circuit_centric"))


def test_peer_rows_time_agreeing_peers_and_say_why_the_others_are_not_timed():
    rows = peer_rows(TINY, small_layer(), [ExactPeer, ReversedWiresPeer, UninstalledPeer])
    assert [(r.method, r.pass_) for r in rows] == [
        ("exact backend, as a peer", "forward"),
        ("exact backend, as a peer", "forward+backward"),
        ("exact backend, wires reversed", "not timed"),
        ("a peer whose library is missing", "not timed"),
    ]
    assert all(math.isfinite(r.seconds) and r.pixels == 4 and "agrees to " in r.note for r in rows[:2])
    assert math.isnan(rows[2].seconds) and "disagrees with the exact layer" in rows[2].note
    assert math.isnan(rows[3].seconds)
    assert rows[3].note.endswith("qpconv_test_no_such_library, which is not installed: pip install 'qpconv[peers]'")


def test_missing_peer_libraries_make_rows_that_name_the_extra(monkeypatch):
    for module in ("jax", "tensorcircuit", "torchquantum", "pennylane_lightning"):
        monkeypatch.setitem(sys.modules, module, None)  # Python's own marker of a module that cannot be imported
    rows = peer_rows(TINY, small_layer())
    assert [(r.method, r.pass_) for r in rows] == [(peer.label, "not timed") for peer in bench_peers.PEERS]
    for row in rows:
        assert math.isnan(row.seconds) and row.note.endswith("not installed: pip install 'qpconv[peers]'"), row.note


def test_the_table_with_peers_reports_the_fastest_peer(monkeypatch):
    pytest.importorskip("pennylane")
    monkeypatch.setattr(bench_peers, "PEERS", (ExactPeer, ReversedWiresPeer))
    rows, summary = run_benchmark(TINY, peers=True)
    methods = [r.method for r in rows]
    assert methods[: 2 * len(NO_PEER_METHODS)] == [m for m in NO_PEER_METHODS for _ in range(2)]
    assert methods[2 * len(NO_PEER_METHODS) :] == ["exact backend, as a peer"] * 2 + ["exact backend, wires reversed"]
    assert summary.peers and summary.fastest_peer in ("exact backend, as a peer", "PennyLane default.qubit, broadcast, backprop")
    assert summary.speedup_vs_fastest_peer is not None and summary.speedup_vs_fastest_peer > 0
    table = format_table(rows, summary)
    assert f"x faster (forward+backward; fastest: {summary.fastest_peer})" in table
    refused = next(line for line in table.splitlines() if line.startswith("exact backend, wires reversed"))
    assert " not timed " in refused and refused.split()[-1] == "timed" and " - " in refused


def test_without_peers_the_table_is_unchanged_and_no_peer_code_is_loaded():
    code = f"""
        import sys
        from qpconv.bench import BenchConfig, format_table, run_benchmark
        rows, summary = run_benchmark(BenchConfig(**{TINY.__dict__!r}))
        print([r.method for r in rows][::2])
        print(summary.peers, summary.fastest_peer, summary.speedup_vs_fastest_peer)
        print("peer" in format_table(rows, summary), "qpconv.bench_peers" in sys.modules)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-3:] == [repr(NO_PEER_METHODS), "False None None", "False False"]


class Stop(Exception):
    pass


def test_the_peers_flag_reaches_the_benchmark(monkeypatch):
    calls = []

    def record(**kwargs):
        calls.append(kwargs)
        raise Stop  # before the table: the flag is what is checked

    monkeypatch.setattr(bench, "run_benchmark", record)
    for argv, peers in ((["--quick"], False), (["--quick", "--peers"], True)):
        with pytest.raises(Stop):
            bench.main(argv)
        assert calls.pop() == {"quick": True, "peers": peers}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs Linux and 2+ CPUs")
def test_the_jax_client_starts_on_torchs_thread_count_even_when_jax_was_imported_before(monkeypatch):
    # ``import pennylane`` imports jax (without starting its client) before the tensorcircuit-ng row
    # runs: XLA must still size its thread pools by torch's threads, not by every CPU.
    cpus = os.sched_getaffinity(0)
    started_on = []
    already_imported = types.ModuleType("jax")
    already_imported.devices = lambda backend: started_on.append((backend, os.sched_getaffinity(0)))
    monkeypatch.setitem(sys.modules, "jax", already_imported)
    with torch_threads(1):
        assert bench_peers._import_jax() is already_imported
    assert started_on == [("cpu", {min(cpus)})]
    assert os.sched_getaffinity(0) == cpus  # all CPUs back after


@pytest.mark.parametrize(
    ("peer", "modules", "in_channels", "out_channels"),
    [
        (TensorCircuitPeer, ("jax", "tensorcircuit"), 5, 7),
        (TorchQuantumPeer, ("torchquantum",), 5, 7),
        # no padding: PennyLane decomposes a trainable AmplitudeEmbedding for the adjoint method into
        # Mottonen rotations, whose gradient is NaN at zero amplitudes (the check refuses that);
        # 2 circuits, not 3: one QNode call per pixel and circuit is slow
        pytest.param(LightningAdjointPeer, ("pennylane", "pennylane_lightning"), 8, 5, marks=pytest.mark.slow),
    ],
)
def test_each_installed_peer_agrees_with_the_exact_layer(peer: type[Peer], modules, in_channels, out_channels, monkeypatch):
    for module in modules:
        pytest.importorskip(module)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for lightning.qubit, before it loads (and restored after)
    torch.manual_seed(3)
    layer = QuantumPointwiseConv2d(in_channels, out_channels, TINY.n_layers)
    assert check_agreement(peer(layer), layer) <= TOLERANCE


def test_the_pennylane_broadcast_row_module_agrees_with_the_exact_layer():
    pytest.importorskip("pennylane")
    layer = small_layer()
    broadcast = small_layer(backend="pennylane", diff_method="backprop")
    broadcast.load_state_dict(layer.state_dict())
    assert check_agreement(PennyLaneBroadcastPeer(broadcast), layer) <= TOLERANCE
