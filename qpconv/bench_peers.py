"""Peer simulators beside the exact layer: the rows of ``qpconv bench --peers`` (book chapter 6, "Gradients").

The circuits of a :class:`~qpconv.layers.QuantumPointwiseConv2d` (the noiseless strongly
entangling ansatz), with the layer's angles copied, written in other simulators the way their
users write them:

* tensorcircuit-ng on JAX (:class:`TensorCircuitPeer`): a circuit of one pixel
  (``amplitude_encoding``, one ``u`` gate per ``Rot``, ``cnot``), ``jax.vmap`` over circuits
  and pixels, ``jax.jit``; the gradients w.r.t. inputs and angles by ``jax.vjp``; complex64;
* torchquantum-ng (:class:`TorchQuantumPeer`): a state vector batched over all pixels
  (``StateEncoder``, ``rot``, ``cnot``, ``MeasureAll(PauliZ)``), one device per circuit; the
  gradients by torch autograd; complex64;
* PennyLane ``lightning.qubit`` with ``diff_method="adjoint"`` (:class:`LightningAdjointPeer`):
  it does not broadcast, so one QNode call per pixel and circuit, timed on a few pixels and
  extrapolated (labelled, with the factor); float64.

The fourth peer, PennyLane ``default.qubit`` broadcast with backprop, is a row of
:mod:`qpconv.bench` itself; with ``--peers`` it is checked as these are
(:class:`PennyLaneBroadcastPeer`).

Every peer follows the layer's conventions: amplitude encoding with wire 0 the most significant
bit, zero-padded to ``2**n`` and normalised; ``Rot(phi, theta, omega)`` on every wire, then
``CNOT(i, (i + r_l) mod n)`` with PennyLane's default ranges; ``<Z_i>`` on every wire; circuit
``k``'s ``<Z_i>`` at output channel ``k * n + i``, the concatenation truncated to ``C_out``.

Before a peer is timed, :func:`check_agreement` compares it with the exact layer, in float64, on
:data:`CHECK_PIXELS` pixels: its values, and its gradients w.r.t. the inputs and the angles (of a
random cotangent), must agree to :data:`TOLERANCE`, or it is refused (:class:`PeerDisagreement`)
and its row says why instead of a time. A peer whose library is missing gets a row that names
the extra to install, ``pip install 'qpconv[peers]'``. No peer library is imported before a
peer is built.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ._optional import import_optional, require_installed
from .bench import BenchConfig, BenchRow, best_time, extrapolated_rows
from .circuits import entangler_pairs
from .layers import QuantumPointwiseConv2d

__all__ = [
    "CHECK_PIXELS",
    "PEERS",
    "PEERS_EXTRA",
    "TOLERANCE",
    "LightningAdjointPeer",
    "Peer",
    "PeerDisagreement",
    "PennyLaneBroadcastPeer",
    "TensorCircuitPeer",
    "TorchPeer",
    "TorchQuantumPeer",
    "check_agreement",
    "not_timed_row",
    "peer_rows",
]

PEERS_EXTRA = "peers"
"""The extra of ``pyproject.toml`` that installs the peer libraries."""
CHECK_PIXELS = 8
"""Pixels of the agreement check."""
TOLERANCE = 1e-5
"""Largest absolute difference from the exact layer allowed in values and gradients."""

Step = Callable[[], tuple[Any, ...]]
"""A step to time: ``() -> (values,)`` or ``() -> (values, grad_pixels, grad_weights)``, in a peer's own arrays."""


class PeerDisagreement(ValueError):
    """A peer's values or gradients differ from the exact layer's by more than :data:`TOLERANCE`."""


class Peer(ABC):
    """One layer's circuits in a peer simulator, with the layer's angles copied in float32.

    Attributes:
        label: the row's method name.
        modules: the modules the peer imports (installed by :data:`PEERS_EXTRA`).
        sampled: timed on :attr:`~qpconv.bench.BenchConfig.adjoint_pixels` pixels and extrapolated
            (a peer that runs pixel by pixel), instead of on the batch of
            :attr:`~qpconv.bench.BenchConfig.peer_batch` feature maps.
        weights: ``(K, L, n, 3)`` float32, the layer's angles.
    """

    label: ClassVar[str]
    modules: ClassVar[tuple[str, ...]]
    sampled: ClassVar[bool] = False

    def __init__(self, layer: QuantumPointwiseConv2d) -> None:
        """Copy ``layer``'s sizes and angles.

        Raises:
            ImportError: a library of the peer is not installed (the message names the extra).
            ValueError: ``layer`` is not a noiseless, exact-expectation strongly entangling layer.
        """
        require_installed(self.modules, extra=PEERS_EXTRA, feature=f"the peer row {self.label!r}")
        if layer.ansatz != "strongly_entangling" or layer.noise is not None or layer.shots is not None:
            raise ValueError(f"peers simulate a noiseless strongly entangling layer without shots, got {layer.extra_repr()}")
        self.in_channels, self.out_channels = layer.in_channels, layer.out_channels
        self.n_qubits, self.n_layers, self.n_circuits = layer.n_qubits, layer.n_layers, layer.n_circuits
        self.weights = layer.weights.detach().to(torch.float32).clone()

    @abstractmethod
    def step(self, pixels: torch.Tensor, cotangent: torch.Tensor | None) -> Step:
        """A step to time on ``pixels``; their conversion into the peer's arrays happens here, not in the step.

        Args:
            pixels: ``(P, C_in)`` float32.
            cotangent: ``(P, C_out)`` float32, or ``None`` for the forward pass alone.

        Returns:
            A function that returns ``(values,)``, ``(P, C_out)``, without ``cotangent``; with it,
            ``(values, grad_pixels, grad_weights)``, the vector-Jacobian product of ``cotangent``
            w.r.t. the pixels ``(P, C_in)`` and the angles ``(K, L, n, 3)``.
        """

    def note(self) -> str:
        """The packages (distribution and version) that provide :attr:`modules`, for the row's note."""
        providers = importlib.metadata.packages_distributions()
        names = dict.fromkeys(name for module in self.modules for name in providers.get(module, ()))
        return ", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)


class TorchPeer(Peer):
    """A peer whose circuits are torch functions: torch autograd gives its gradients."""

    @abstractmethod
    def values(self, pixels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The layer's outputs: ``pixels`` ``(P, C_in)``, ``weights`` ``(K, L, n, 3)`` -> ``(P, C_out)``."""

    def step(self, pixels: torch.Tensor, cotangent: torch.Tensor | None) -> Step:
        if cotangent is None:

            def forward() -> tuple[torch.Tensor]:
                with torch.no_grad():
                    return (self.values(pixels, self.weights),)

            return forward
        leaf, weights = pixels.clone().requires_grad_(True), self.weights.clone().requires_grad_(True)

        def forward_backward() -> tuple[torch.Tensor, ...]:
            values = self.values(leaf, weights)
            return (values, *torch.autograd.grad(values, (leaf, weights), cotangent))

        return forward_backward


def _import_jax() -> ModuleType:
    """``import jax`` and start its CPU client, on as many CPUs as torch has threads.

    XLA sizes its CPU thread pools by the CPUs the process may run on when the client starts (its
    thread flags do not bound them), so for that moment the process is restricted to
    ``torch.get_num_threads()`` CPUs (Linux); the threads started then get all CPUs back after.
    Whether ``jax`` was imported before does not matter (``import pennylane`` imports it, without
    starting a client); a client that already runs keeps its pools.
    """
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else set()
    restrict = 0 < torch.get_num_threads() < len(cpus)
    before = set(os.listdir("/proc/self/task")) if restrict else set()
    if restrict:
        os.sched_setaffinity(0, sorted(cpus)[: torch.get_num_threads()])
    try:
        jax = import_optional("jax", extra=PEERS_EXTRA, feature="the tensorcircuit-ng peer row")
        jax.devices("cpu")  # starts the CPU client, which sizes its thread pools now
    finally:
        if restrict:
            for thread in (set(os.listdir("/proc/self/task")) - before) | {str(threading.get_native_id())}:
                os.sched_setaffinity(int(thread), cpus)
    return jax


class TensorCircuitPeer(Peer):
    """tensorcircuit-ng on JAX: one circuit per pixel, ``vmap`` over circuits and pixels, ``jit``, ``vjp``; complex64.

    Sets tensorcircuit's global backend to JAX and its dtype to complex64. Unless JAX's CPU
    client already runs, XLA runs on as many threads as torch (its client starts on that many CPUs).
    """

    label = "tensorcircuit-ng (JAX), jit + vmap"
    modules = ("tensorcircuit", "jax")

    def __init__(self, layer: QuantumPointwiseConv2d) -> None:
        super().__init__(layer)
        jax = _import_jax()
        tc = import_optional("tensorcircuit", extra=PEERS_EXTRA, feature="the tensorcircuit-ng peer row")
        tc.set_backend("jax")
        tc.set_dtype("complex64")
        jnp = jax.numpy
        n, n_layers, out_channels = self.n_qubits, self.n_layers, self.out_channels
        index = jnp.arange(2**n)[:, None] >> jnp.arange(n - 1, -1, -1)
        z_eigenvalues = (1 - 2 * (index & 1)).astype(jnp.float32)  # (2**n, n): Z_i on |k>, wire 0 most significant

        def circuit(pixel: Any, weights: Any) -> Any:
            """One circuit on one pixel: ``(C_in,)``, ``(L, n, 3)`` -> ``<Z_i>`` ``(n,)``."""
            c = tc.Circuit(n, inputs=tc.templates.dataset.amplitude_encoding(pixel, n))
            for block in range(n_layers):
                for wire in range(n):
                    phi, theta, omega = weights[block, wire]
                    c.u(wire, theta=theta, phi=omega, lbd=phi)  # Rot(phi, theta, omega) up to a global phase
                for control, target in entangler_pairs(n, block):
                    c.cnot(control, target)
            return (jnp.abs(c.state()) ** 2) @ z_eigenvalues

        def layer_values(pixels: Any, weights: Any) -> Any:
            """``(P, C_in)``, ``(K, L, n, 3)`` -> ``(P, C_out)``."""
            per_circuit = jax.vmap(jax.vmap(circuit, in_axes=(0, None)), in_axes=(None, 0))(pixels, weights)  # (K, P, n)
            return jnp.swapaxes(per_circuit, 0, 1).reshape(pixels.shape[0], -1)[:, :out_channels]

        def values_and_vjp(pixels: Any, weights: Any, cotangent: Any) -> tuple[Any, ...]:
            values, pullback = jax.vjp(layer_values, pixels, weights)
            return (values, *pullback(cotangent))

        self._jax = jax
        self._forward, self._forward_backward = jax.jit(layer_values), jax.jit(values_and_vjp)
        self._weights = jnp.asarray(self.weights.numpy())

    def step(self, pixels: torch.Tensor, cotangent: torch.Tensor | None) -> Step:
        jax = self._jax
        inputs = jax.numpy.asarray(pixels.numpy())
        if cotangent is None:
            return lambda: (jax.block_until_ready(self._forward(inputs, self._weights)),)
        cotangents = jax.numpy.asarray(cotangent.numpy())
        return lambda: jax.block_until_ready(self._forward_backward(inputs, self._weights, cotangents))


class TorchQuantumPeer(TorchPeer):
    """torchquantum-ng: one device per circuit, its state vector batched over all pixels; complex64."""

    label = "torchquantum-ng, batched state vector"
    modules = ("torchquantum",)

    def __init__(self, layer: QuantumPointwiseConv2d) -> None:
        super().__init__(layer)
        self._tq = import_optional("torchquantum", extra=PEERS_EXTRA, feature="the torchquantum-ng peer row")
        self._functional = import_optional("torchquantum.functional", extra=PEERS_EXTRA, feature="the torchquantum-ng peer row")
        self._encoder, self._measure = self._tq.StateEncoder(), self._tq.MeasureAll(self._tq.PauliZ)

    def values(self, pixels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        outputs = []
        for circuit in weights:
            device = self._tq.QuantumDevice(n_wires=self.n_qubits, bsz=len(pixels))
            self._encoder(device, pixels)  # normalised, zero-padded amplitudes, wire 0 most significant
            for block in range(self.n_layers):
                for wire in range(self.n_qubits):
                    self._functional.rot(device, wires=wire, params=circuit[block, wire].unsqueeze(0))  # one gate for all pixels
                for control, target in entangler_pairs(self.n_qubits, block):
                    self._functional.cnot(device, wires=[control, target])
            outputs.append(self._measure(device))  # (P, n)
        return torch.cat(outputs, dim=1)[:, : self.out_channels]


class LightningAdjointPeer(TorchPeer):
    """PennyLane ``lightning.qubit``, ``diff_method="adjoint"``, one QNode call per pixel and circuit.

    The QNode is :func:`qpconv.pennylane_backend.build_qnode`'s (``AmplitudeEmbedding``,
    ``StronglyEntanglingLayers``, ``<Z_i>``), on ``lightning.qubit``. Lightning's OpenMP
    runtime reads ``OMP_NUM_THREADS`` when it loads: unless set, it is set here to torch's
    thread count first (on a busy machine, idle OpenMP threads otherwise spin for minutes).

    For the adjoint method PennyLane decomposes the trainable ``AmplitudeEmbedding`` into
    Mottonen rotations, whose angles it computes in the inputs' dtype: the peer runs in float64
    (lightning's default complex128; no slower here than complex64), as in float32 the gradient
    w.r.t. the inputs missed :data:`TOLERANCE` (7.6e-5 at the reference size). That gradient is
    NaN where an amplitude is zero: this peer agrees only where ``C_in = 2**n`` (no padding) and
    no channel is exactly zero, as at the reference size; elsewhere :func:`check_agreement`
    refuses it.
    """

    label = "PennyLane lightning.qubit, per pixel, adjoint"
    modules = ("pennylane", "pennylane_lightning")
    sampled = True

    def __init__(self, layer: QuantumPointwiseConv2d) -> None:
        super().__init__(layer)
        os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
        from .pennylane_backend import build_qnode

        self._qnode = build_qnode("strongly_entangling", self.n_qubits, "lightning.qubit", "adjoint")

    def values(self, pixels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        inputs, angles = pixels.to(torch.float64), weights.to(torch.float64)
        rows = [torch.cat([torch.stack(self._qnode(pixel, circuit)) for circuit in angles]) for pixel in inputs]
        return torch.stack(rows)[:, : self.out_channels].to(pixels.dtype)


class PennyLaneBroadcastPeer(TorchPeer):
    """The module of :mod:`qpconv.bench`'s PennyLane ``default.qubit`` broadcast row, checked before it is timed.

    Args:
        layer: a ``QuantumPointwiseConv2d(..., backend="pennylane")``; its own ``forward`` is what is
            checked, with the copied angles.
    """

    label = "PennyLane default.qubit, broadcast, backprop"
    modules = ("pennylane",)

    def __init__(self, layer: QuantumPointwiseConv2d) -> None:
        super().__init__(layer)
        self._module: nn.Module = layer

    def values(self, pixels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(self._module, {"weights": weights}, (pixels[:, :, None, None],))
        return out[:, :, 0, 0]


PEERS: tuple[type[Peer], ...] = (TensorCircuitPeer, TorchQuantumPeer, LightningAdjointPeer)
"""The peers of ``qpconv bench --peers``, in the order of their rows."""


def _as_float64(array: Any) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        return array.detach().to(torch.float64)
    return torch.from_numpy(np.asarray(array, dtype=np.float64))


def check_agreement(peer: Peer, layer: QuantumPointwiseConv2d, seed: int = 0) -> float:
    """Compare ``peer`` with the exact ``layer`` on :data:`CHECK_PIXELS` random pixels; return the largest difference.

    The reference is ``layer`` on the exact backend in float64, with the angles rounded to float32
    as the peer has them;
    compared are the values ``(8, C_out)`` and the vector-Jacobian products of a random
    cotangent ``(8, C_out)`` w.r.t. the pixels ``(8, C_in)`` and the angles ``(K, L, n, 3)``.

    Args:
        peer: the peer, built from ``layer`` (or from a copy of it on another backend).
        layer: the layer whose circuits the peer simulates.
        seed: of the pixels and the cotangent.

    Raises:
        PeerDisagreement: a value or a gradient differs by more than :data:`TOLERANCE` (or is
            NaN), or has the wrong shape; the message says which and by how much.
    """
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randn(CHECK_PIXELS, layer.in_channels, generator=generator)
    cotangent = torch.randn(CHECK_PIXELS, layer.out_channels, generator=generator)
    reference = QuantumPointwiseConv2d(
        layer.in_channels, layer.out_channels, layer.n_layers, n_qubits=layer.n_qubits, dtype=torch.float64
    )
    with torch.no_grad():
        reference.weights.copy_(peer.weights)
    leaf = pixels.to(torch.float64).requires_grad_(True)
    values = reference.pixel_map(leaf)
    expected = (values.detach(), *torch.autograd.grad(values, (leaf, reference.weights), cotangent.to(torch.float64)))
    got = peer.step(pixels, cotangent)()
    largest = 0.0
    for what, want, have in zip(("values", "gradient w.r.t. the inputs", "gradient w.r.t. the angles"), expected, got):
        have = _as_float64(have)
        if have.shape != want.shape:
            raise PeerDisagreement(f"{peer.label}: its {what} have shape {tuple(have.shape)}, not {tuple(want.shape)}; not timed")
        difference = float((have - want).abs().max())
        if not difference <= TOLERANCE:  # NaN fails too
            raise PeerDisagreement(
                f"{peer.label} disagrees with the exact layer on {CHECK_PIXELS} pixels: "
                f"max |difference| of the {what} is {difference:.1e} > {TOLERANCE:.0e}; not timed"
            )
        largest = max(largest, difference)
    return largest


def not_timed_row(label: str, reason: Exception, pixels: int) -> BenchRow:
    """The row of a peer that was not timed: no time, ``reason`` as its note."""
    return BenchRow(label, "not timed", math.nan, pixels, str(reason))


def _timed_rows(peer: Peer, config: BenchConfig, difference: float) -> list[BenchRow]:
    """The forward and forward+backward rows of a peer that passed :func:`check_agreement` with ``difference``."""
    pixels = config.adjoint_pixels if peer.sampled else config.peer_batch * config.height * config.width
    inputs = torch.randn(pixels, peer.in_channels, generator=torch.Generator().manual_seed(1))
    forward = peer.step(inputs, None)
    forward_backward = peer.step(inputs, torch.ones(pixels, peer.out_channels))  # the gradient of the sum
    note = f"{peer.note()}; agrees to {difference:.0e}"
    if peer.sampled:
        scale = config.pixels / pixels
        note += f"; timed on {pixels} pixel(s) x {peer.n_circuits} circuits, extrapolated x{scale:.0f}"
        return extrapolated_rows(peer.label, forward, forward_backward, scale, config, note)
    note += f"; {pixels} pixels"
    return [
        BenchRow(peer.label, "forward", best_time(forward, config.repeats), pixels, note),
        BenchRow(peer.label, "forward+backward", best_time(forward_backward, config.repeats), pixels, note),
    ]


def peer_rows(config: BenchConfig, layer: QuantumPointwiseConv2d, peers: Sequence[type[Peer]] | None = None) -> list[BenchRow]:
    """Check, then time, every peer of ``peers`` on ``layer``'s circuits.

    Args:
        config: the benchmark's sizes (``peer_batch``, ``adjoint_pixels``, ``repeats``).
        layer: the exact layer whose angles the peers copy and against which they are checked.
        peers: the peer classes; default :data:`PEERS`.

    Returns:
        Two rows (forward, forward+backward) per peer that agrees; one ``"not timed"`` row, whose
        note says why, per peer that is not installed or disagrees.
    """
    rows: list[BenchRow] = []
    for peer_class in PEERS if peers is None else peers:
        try:
            peer = peer_class(layer)
            difference = check_agreement(peer, layer)
        except (ImportError, PeerDisagreement) as error:
            rows.append(not_timed_row(peer_class.label, error, config.pixels))
            continue
        rows += _timed_rows(peer, config, difference)
    return rows
