"""The quantum pointwise layer computed through PennyLane (reference and device backend).

Every circuit is a PennyLane QNode built from PennyLane's own templates
(``AmplitudeEmbedding``, ``StronglyEntanglingLayers``, ``RZ``/``RX``/
``ControlledPhaseShift``), evaluated on all pixels at once with parameter
broadcasting. Any PennyLane device name and ``diff_method`` can be used, e.g.
``default.qubit`` with ``"parameter-shift"`` (the paper's gradient rule) or
``"backprop"``, or ``lightning.qubit``. The exact backend in
:mod:`qpconv.simulation` is tested against this module.

It needs the ``pennylane`` extra: ``pip install 'qpconv[pennylane]'``.

Noisy references (:func:`build_noisy_qnode`, :func:`build_noisy_sampler`) run the same
circuits on ``default.mixed`` with PennyLane's channels inserted after every gate, as
:mod:`qpconv.noise` places them: the ansatz is queued as for the noiseless QNode, its
templates decomposed into their gates (``Rot``, ``CNOT``; ``RZ``, ``RX``,
``ControlledPhaseShift``), and each gate followed by ``qml.DepolarizingChannel`` and
``qml.AmplitudeDamping`` on its wires; the global depolarising channel is a
``qml.QubitChannel`` of ``4**n + 1`` Kraus operators (slow beyond about 5 qubits), the
read-out error ``qml.BitFlip`` on every wire before the measurement.

Zero pixel vectors follow the package convention (:mod:`qpconv.encoding`):
they are evaluated as ``|0...0>`` and their outputs multiplied by zero, so the
result is 0 with zero gradient instead of PennyLane's NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ._optional import import_optional
from .circuits import entangler_pairs
from .encoding import unit_max_rows
from .registry import lookup

qml = import_optional("pennylane", extra="pennylane", feature="the PennyLane backend (qpconv.pennylane_backend)")

if TYPE_CHECKING:
    from .noise import NoiseModel

__all__ = [
    "apply_ansatz",
    "apply_circuit",
    "apply_noisy_circuit",
    "build_noisy_qnode",
    "build_noisy_sampler",
    "build_qnode",
    "pennylane_expectations",
]

_GATES = ("Rot", "RZ", "RX", "CNOT", "ControlledPhaseShift")
"""The gates the ansätze decompose into; noise follows each of them."""


def _strongly_entangling_ops(weights: Any, wires: list[int]) -> None:
    qml.StronglyEntanglingLayers(weights, wires=wires)


def _product_ops(weights: Any, wires: list[int]) -> None:
    for layer in range(weights.shape[-3]):
        for wire in wires:
            qml.Rot(*(weights[..., layer, wire, j] for j in range(3)), wires=wire)


def _circuit_centric_ops(weights: Any, wires: list[int]) -> None:
    n_layers, n_qubits = weights.shape[-3], weights.shape[-2]
    for layer in range(n_layers):
        for wire in wires:
            alpha, beta, gamma = (weights[..., layer, wire, j] for j in range(3))
            qml.RZ(alpha, wires=wire)
            qml.RX(beta, wires=wire)
            qml.RZ(gamma, wires=wire)
        for gate, (control, target) in enumerate(entangler_pairs(n_qubits, layer)):
            qml.ControlledPhaseShift(weights[..., layer, gate, 3], wires=[wires[control], wires[target]])
        for wire in wires:
            qml.RX(weights[..., layer, wire, 4], wires=wire)


_TEMPLATES: dict[str, Callable[[Any, list[int]], None]] = {
    "strongly_entangling": _strongly_entangling_ops,
    "product": _product_ops,
    "circuit_centric": _circuit_centric_ops,
}


def apply_ansatz(ansatz: str, weights: Any, wires: list[int]) -> None:
    """Queue the gates of ``ansatz`` with one circuit's weights ``(L, n, p)`` on ``wires``."""
    lookup(_TEMPLATES, ansatz, "ansatz")(weights, wires)


def apply_circuit(ansatz: str, inputs: Any, weights: Any, n_qubits: int) -> list[Any]:
    """Queue one whole circuit of the paper (Fig. 1) and return its ``<Z_i>`` measurements.

    Args:
        ansatz: ansatz name.
        inputs: ``(C,)`` or broadcast ``(P, C)`` channel vectors, ``C <= 2**n_qubits``.
        weights: ``(L, n_qubits, p)``.
        n_qubits: register size.
    """
    wires = list(range(n_qubits))
    qml.AmplitudeEmbedding(inputs, wires=wires, pad_with=0.0, normalize=True)
    apply_ansatz(ansatz, weights, wires)
    return [qml.expval(qml.PauliZ(w)) for w in wires]


def build_qnode(ansatz: str, n_qubits: int, device: str = "default.qubit", diff_method: str = "best") -> Any:
    """A torch-interface QNode ``(inputs, weights) -> [<Z_0>, ..., <Z_{n-1}>]`` for one circuit."""
    dev = qml.device(device, wires=n_qubits)

    def circuit(inputs: Any, weights: Any) -> list[Any]:
        return apply_circuit(ansatz, inputs, weights, n_qubits)

    return qml.QNode(circuit, dev, interface="torch", diff_method=diff_method)


def _gates(ansatz: str, weights: Any, wires: list[int]) -> list[Any]:
    """The ansatz's operations, templates decomposed into :data:`_GATES`, in circuit order (not queued)."""
    with qml.queuing.AnnotatedQueue() as queue:
        apply_ansatz(ansatz, weights, wires)
    pending, gates = list(queue.queue), []
    with qml.QueuingManager.stop_recording():
        while pending:
            op = pending.pop(0)
            if op.name in _GATES:
                gates.append(op)
            else:
                pending = list(op.decomposition()) + pending
    return gates


def _global_depolarizing_kraus(lam: float, n_qubits: int) -> list[Any]:
    """Kraus operators of ``rho -> (1 - lam) rho + lam I / 2**n``: ``sqrt(1 - lam) I`` and ``sqrt(lam / 2**n) |i><j|``."""
    dim = 2**n_qubits
    units = torch.eye(dim * dim, dtype=torch.complex128).reshape(dim * dim, dim, dim)
    return [(1 - lam) ** 0.5 * torch.eye(dim, dtype=torch.complex128), *((lam / dim) ** 0.5 * units)]


def apply_noisy_circuit(ansatz: str, inputs: Any, weights: Any, n_qubits: int, noise: NoiseModel) -> None:
    """Queue one circuit with ``noise``'s channels (see the module docstring), up to the measurement.

    Args:
        ansatz, inputs, weights, n_qubits: as for :func:`apply_circuit`.
        noise: a :class:`qpconv.noise.NoiseModel`.
    """
    wires = list(range(n_qubits))
    qml.AmplitudeEmbedding(inputs, wires=wires, pad_with=0.0, normalize=True)
    for gate in _gates(ansatz, weights, wires):
        qml.apply(gate)
        depolarizing = noise.single_qubit_depolarizing if len(gate.wires) == 1 else noise.two_qubit_depolarizing
        for wire in gate.wires:
            if depolarizing:
                qml.DepolarizingChannel(depolarizing, wires=wire)
            if noise.amplitude_damping:
                qml.AmplitudeDamping(noise.amplitude_damping, wires=wire)
    if noise.global_depolarizing:
        qml.QubitChannel(_global_depolarizing_kraus(noise.global_depolarizing, n_qubits), wires=wires)
    if noise.readout_flip:
        for wire in wires:
            qml.BitFlip(noise.readout_flip, wires=wire)


def build_noisy_qnode(ansatz: str, n_qubits: int, noise: NoiseModel, diff_method: str = "backprop") -> Any:
    """A torch-interface ``default.mixed`` QNode ``(inputs, weights) -> [<Z_0>, ..., <Z_{n-1}>]`` with ``noise``."""
    dev = qml.device("default.mixed", wires=n_qubits)

    def circuit(inputs: Any, weights: Any) -> list[Any]:
        apply_noisy_circuit(ansatz, inputs, weights, n_qubits, noise)
        return [qml.expval(qml.PauliZ(w)) for w in range(n_qubits)]

    return qml.QNode(circuit, dev, interface="torch", diff_method=diff_method)


def build_noisy_sampler(ansatz: str, n_qubits: int, noise: NoiseModel, shots: int, seed: int) -> Any:
    """A ``default.mixed`` QNode ``(inputs, weights) -> (shots, n)`` measured bits (wire 0 first) with ``noise``.

    Args:
        ansatz, n_qubits, noise: as for :func:`build_noisy_qnode`.
        shots: runs per call.
        seed: the device's random seed (reproducible samples).
    """
    dev = qml.device("default.mixed", wires=n_qubits, seed=seed)

    def circuit(inputs: Any, weights: Any) -> Any:
        apply_noisy_circuit(ansatz, inputs, weights, n_qubits, noise)
        return qml.sample(wires=range(n_qubits))

    return qml.set_shots(qml.QNode(circuit, dev, interface="torch", diff_method=None), shots=shots)


def pennylane_expectations(pixels: torch.Tensor, weights: torch.Tensor, qnode: Any) -> torch.Tensor:
    """``<Z_i>`` of every circuit on every pixel through a PennyLane QNode.

    Args:
        pixels: real ``(P, C)``.
        weights: ``(K, L, n, p)``.
        qnode: from :func:`build_qnode`.

    Returns:
        ``(P, K, n)`` in the dtype of ``pixels``; 0 for all-zero pixels.
    """
    pixels = unit_max_rows(pixels)
    nonzero = pixels.square().sum(dim=1, keepdim=True) > 0
    basis_zero = torch.zeros_like(pixels)
    basis_zero[:, 0] = 1
    safe_pixels = torch.where(nonzero, pixels, basis_zero)
    per_circuit = []
    for circuit_weights in weights:
        results = qnode(safe_pixels, circuit_weights)
        per_circuit.append(torch.stack([torch.as_tensor(r) for r in results], dim=-1).reshape(len(pixels), -1))
    stacked = torch.stack(per_circuit, dim=1).to(pixels.dtype)
    return stacked * nonzero.unsqueeze(-1).to(pixels.dtype)
