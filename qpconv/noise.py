"""Gate noise on the quantum pointwise layer, simulated exactly in the Heisenberg picture.

Book: "On a real quantum computer".

With a noise channel ``E`` (the noisy circuit, gates and channels, acting on density
matrices) the measured value of wire ``i`` on the encoded pixel ``rho = |x><x| / ||x||^2``
is ``Tr(Z_i E(rho)) = Tr(E^dagger(Z_i) rho)``, with ``E^dagger`` the adjoint
(Heisenberg-picture) channel: for Kraus operators ``K_j``, ``E^dagger(O) = sum_j K_j^dagger O K_j``.
``rho`` is real, so every output is still a normalised quadratic form of the pixel,

.. math::  \\langle Z_i \\rangle = \\frac{x^\\top \\tilde M_i\\, x}{\\lVert x \\rVert^2},
           \\qquad \\tilde M_i = \\big[\\mathrm{Re}\\, E^\\dagger(Z_i)\\big]_{C\\times C},

as for the noiseless layer (:mod:`qpconv.dequantise`), and simulating the noise exactly
costs no more per pixel: the ``n`` observables ``Z_i`` of each of the ``K`` circuits are
evolved backwards through the adjoint channels once per step (``(K, n, 2**n, 2**n)``,
independent of the pixels, differentiable in the angles by autograd), and all pixels are
then one quadratic form each (:func:`qpconv.quadratic.quadratic_form`). A gate and the
channels after it act on one or two wires: the observables are reshaped so that those
wires' row and column bits form one axis of ``4`` (one wire) or ``16`` (two), which is
multiplied by the ``4 x 4`` or ``16 x 16`` Heisenberg transfer matrix of gate and channels
together (:func:`apply_on_wires`; single-qubit gates two wires at a time, to halve the
passes over the observables); no ``4**n x 4**n`` superoperator is built.

Channels (:class:`NoiseModel`), PennyLane's conventions, placed as in
:func:`qpconv.pennylane_backend.build_noisy_qnode`, after every gate of
:func:`qpconv.circuits.circuit_gates` (a ``Rot``, an ``RZ``, an ``RX``, a ``CNOT``, a
``ControlledPhaseShift``):

* ``single_qubit_depolarizing`` ``p``: ``qml.DepolarizingChannel(p)`` on the wire of every
  single-qubit gate, ``rho -> (1 - p) rho + p/3 (X rho X + Y rho Y + Z rho Z)``;
* ``two_qubit_depolarizing`` ``p``: ``qml.DepolarizingChannel(p)`` on *each* of the two wires
  of every two-qubit gate (independent single-qubit depolarising, the common convention;
  not the 15-Pauli two-qubit channel);
* ``amplitude_damping`` ``gamma``: ``qml.AmplitudeDamping(gamma)`` on every wire of every gate,
  after the depolarising channel;
* ``readout_flip`` ``f``: ``qml.BitFlip(f)`` on every wire before the measurement (the
  classical read-out error: each measured bit flips with probability ``f``);
* ``global_depolarizing`` ``lam``: ``rho -> (1 - lam) rho + lam I / 2**n`` at the end of the
  circuit; ``Z_i`` is traceless, so it multiplies every ``<Z_i>`` by exactly ``1 - lam``.

Read-out flips and global depolarising (the end-of-circuit channels) only scale every
``<Z_i>``, by ``(1 - 2f)(1 - lam)``; without gate noise the layer keeps its noiseless
fast path and scales it. Finite shots are in :mod:`qpconv.shots`.

Memory: ``K * n`` complex ``2**n x 2**n`` observables per step, kept by autograd for every
gate (for finite shots with gate noise, also ``K * 2**n`` of them, without autograd); the
noisy path is meant for the register sizes of the paper (up to :data:`MAX_NOISY_QUBITS`).

Gradient of the noisy expectations: exact, by autograd through the evolution (the channels'
probabilities are constants). With finite shots the gradient is straight-through (see
:class:`~qpconv.layers.QuantumPointwiseConv2d`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from .circuits import Ansatz, Gate, StageKind, _phase, circuit_gates
from .simulation import z_signs

__all__ = [
    "MAX_NOISY_QUBITS",
    "NoiseModel",
    "apply_on_wires",
    "evolve_observables",
    "heisenberg_transfer",
    "joint_transfer",
    "noisy_forms",
    "noisy_observables",
    "outcome_forms",
]

MAX_NOISY_QUBITS = 10
"""Largest register of a noisy layer; beyond it the ``K * n`` observables of ``4**n`` complex
entries each, one set per gate kept by autograd, outgrow memory."""

_PAULI_X = ((0, 1), (1, 0))
_PAULI_Y = ((0, -1j), (1j, 0))
_PAULI_Z = ((1, 0), (0, -1))
_IDENTITY = ((1, 0), (0, 1))


@dataclass(frozen=True)
class NoiseModel:
    """Noise channels of a real device, each a probability in ``[0, 1]`` (0: absent).

    See the module docstring for each channel's definition and placement.

    Attributes:
        single_qubit_depolarizing: depolarising probability after every single-qubit gate.
        two_qubit_depolarizing: depolarising probability on each wire after every two-qubit gate.
        amplitude_damping: damping ``gamma`` on each wire after every gate.
        readout_flip: probability that a measured bit flips.
        global_depolarizing: ``lam`` of ``rho -> (1 - lam) rho + lam I / 2**n`` at the end.

    Raises:
        ValueError: a field is not a number in ``[0, 1]``.

    Example::

        >>> import torch
        >>> from qpconv import NoiseModel, QuantumPointwiseConv2d
        >>> noisy = QuantumPointwiseConv2d(8, 6, n_layers=2, noise=NoiseModel(global_depolarizing=0.1), dtype=torch.float64)
        >>> clean = QuantumPointwiseConv2d(8, 6, n_layers=2, dtype=torch.float64)
        >>> _ = clean.load_state_dict(noisy.state_dict())
        >>> x = torch.randn(2, 8, 3, 3, dtype=torch.float64)
        >>> bool(torch.allclose(noisy(x), 0.9 * clean(x)))  # global depolarising: exactly (1 - lam) <Z_i>
        True
        >>> device_like = NoiseModel(single_qubit_depolarizing=1e-3, two_qubit_depolarizing=1e-2, readout_flip=0.02)
        >>> QuantumPointwiseConv2d(8, 6, n_layers=2, noise=device_like)(x.float()).shape
        torch.Size([2, 6, 3, 3])
        >>> NoiseModel(readout_flip=1.5)
        Traceback (most recent call last):
        ...
        ValueError: NoiseModel.readout_flip must be a probability in [0, 1], got 1.5
    """

    single_qubit_depolarizing: float = 0.0
    two_qubit_depolarizing: float = 0.0
    amplitude_damping: float = 0.0
    readout_flip: float = 0.0
    global_depolarizing: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"NoiseModel.{field.name} must be a probability in [0, 1], got {value!r}")

    @property
    def gate_noise(self) -> bool:
        """Whether any channel follows the gates (else only the end-of-circuit channels act)."""
        return any((self.single_qubit_depolarizing, self.two_qubit_depolarizing, self.amplitude_damping))

    @property
    def z_scale(self) -> float:
        """``(1 - 2f)(1 - lam)``: the factor the end-of-circuit channels put on every ``<Z_i>``."""
        return (1 - 2 * self.readout_flip) * (1 - self.global_depolarizing)


def heisenberg_transfer(kraus: torch.Tensor) -> torch.Tensor:
    """The matrix of ``O -> sum_j K_j^dagger O K_j`` on the ``d x d`` block of the wires it acts on.

    Args:
        kraus: ``(..., J, d, d)`` complex Kraus operators (``J = 1``: a unitary gate); ``d = 2``
            for one wire, ``4`` for two (basis of the wires in ascending order, the first most
            significant).

    Returns:
        ``(..., d*d, d*d)`` complex ``T`` with ``new[d*r + s] = sum T[d*r + s, d*u + v] old[d*u + v]``,
        ``old[d*u + v]`` the block's entry (row ``u``, column ``v``).
    """
    dim = kraus.shape[-1]
    transfer = torch.einsum("...jur,...jvs->...rsuv", kraus.conj(), kraus)
    return transfer.reshape(*transfer.shape[:-4], dim * dim, dim * dim)


def joint_transfer(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Two single-wire maps ``(..., 4, 4)`` as one map ``(..., 16, 16)`` of their two wires (``first`` on the lower)."""
    first, second = (t.reshape(*t.shape[:-2], 2, 2, 2, 2) for t in (first, second))
    pair = torch.einsum("...rsuv,...RSUV->...rRsSuUvV", first, second)
    return pair.reshape(*pair.shape[:-8], 16, 16)


def _channel_transfer(kraus: list[torch.Tensor]) -> torch.Tensor:
    return heisenberg_transfer(torch.stack(kraus))


def _pauli(entries: tuple[tuple[complex, complex], ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(entries, dtype=dtype, device=device)


def _depolarizing(p: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``qml.DepolarizingChannel(p)``: Kraus ``sqrt(1 - p) I``, ``sqrt(p / 3) X, Y, Z``."""
    paulis = [_pauli(m, dtype, device) for m in (_IDENTITY, _PAULI_X, _PAULI_Y, _PAULI_Z)]
    weights = [math.sqrt(1 - p), *[math.sqrt(p / 3)] * 3]
    return _channel_transfer([w * m for w, m in zip(weights, paulis)])


def _amplitude_damping(gamma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``qml.AmplitudeDamping(gamma)``: Kraus ``[[1, 0], [0, sqrt(1 - gamma)]]``, ``[[0, sqrt(gamma)], [0, 0]]``."""
    keep = torch.tensor([[1, 0], [0, math.sqrt(1 - gamma)]], dtype=dtype, device=device)
    decay = torch.tensor([[0, math.sqrt(gamma)], [0, 0]], dtype=dtype, device=device)
    return _channel_transfer([keep, decay])


def _bit_flip(f: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``qml.BitFlip(f)``: Kraus ``sqrt(1 - f) I``, ``sqrt(f) X``."""
    return _channel_transfer(
        [math.sqrt(1 - f) * _pauli(_IDENTITY, dtype, device), math.sqrt(f) * _pauli(_PAULI_X, dtype, device)]
    )


def _after_gate(depolarizing: float, gamma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """Transfer matrix of the channels on one wire after a gate (depolarising, then damping); ``None`` if none."""
    transfer = None
    if depolarizing:
        transfer = _depolarizing(depolarizing, dtype, device)
    if gamma:
        damping = _amplitude_damping(gamma, dtype, device)
        transfer = damping if transfer is None else transfer @ damping  # Heisenberg: the later channel acts first
    return transfer


def apply_on_wires(observables: torch.Tensor, transfer: torch.Tensor, wires: tuple[int, ...]) -> torch.Tensor:
    """Apply a Heisenberg map of one or two wires to a batch of observables.

    The wires' row and column bits are moved to the front (a reshape and a permutation),
    multiplied by ``transfer``, and moved back; the other wires are spectators.

    Args:
        observables: ``(K, m, 2**n, 2**n)`` complex (``K`` circuits, ``m`` observables each;
            basis index with wire 0 the most significant bit).
        transfer: ``(K, 4**w, 4**w)`` (one map per circuit) or ``(4**w, 4**w)`` (the same for
            all), from :func:`heisenberg_transfer` or :func:`joint_transfer`, ``w = len(wires)``.
        wires: the wires, ascending.

    Returns:
        ``(K, m, 2**n, 2**n)``: the observables after the map.
    """
    k, m, dim, _ = observables.shape
    n_qubits = dim.bit_length() - 1
    sizes, previous = [], 0
    for wire in wires:
        sizes += [2 ** (wire - previous), 2]
        previous = wire + 1
    sizes.append(2 ** (n_qubits - previous))
    segments = len(sizes)
    row_bits = [3 + 2 * i for i in range(len(wires))]
    col_bits = [axis + segments for axis in row_bits]
    spectators = [axis for axis in range(2, 2 + 2 * segments) if axis not in row_bits + col_bits]
    order = [0, *row_bits, *col_bits, 1, *spectators]
    moved = observables.reshape(k, m, *sizes, *sizes).permute(order)
    maps = transfer.reshape(-1, *transfer.shape[-2:]).expand(k, -1, -1)
    out = torch.bmm(maps, moved.reshape(k, maps.shape[-1], -1)).reshape(moved.shape)
    return out.permute(torch.argsort(torch.tensor(order)).tolist()).reshape(k, m, dim, dim)


def _two_qubit_unitary(gate: Gate, n_qubits: int, dtype: torch.dtype) -> torch.Tensor:
    """The two-wire unitary of a ``PERMUTE`` (CNOT) or ``PHASE`` (controlled phase) gate, its wires ascending.

    Read off the stage's value on the four basis states of the two wires (the other bits 0):
    ``(4, 4)`` for a CNOT, ``(K, 4, 4)`` for controlled phases.
    """
    low, high = sorted(gate.wires)
    kind, value = gate.stage
    low_bit, high_bit = 1 << (n_qubits - 1 - low), 1 << (n_qubits - 1 - high)
    local = torch.tensor([0, high_bit, low_bit, low_bit + high_bit], device=value.device)
    if kind is StageKind.PERMUTE:  # new_state = old_state[value]: U[j, value[j]] = 1
        return (value[local].unsqueeze(-1) == local).to(dtype)
    return torch.diag_embed(_phase(value[:, local])).to(dtype)


def evolve_observables(gates: list[Gate], observables: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
    """Evolve observables backwards through a circuit's gates and the channels after them.

    Args:
        gates: the circuits gate by gate (:func:`qpconv.circuits.circuit_gates`), ``K`` circuits.
        observables: ``(K, m, 2**n, 2**n)`` complex, observables at the end of the circuits
            (after the last gate's channels).
        noise: its gate channels are applied (the end-of-circuit ones are not: see
            :func:`noisy_observables`).

    Returns:
        ``(K, m, 2**n, 2**n)``: ``E^dagger(O)`` for the gates and their channels, so that
        ``Tr(O E(rho)) = Tr(E^dagger(O) rho)`` for every input state ``rho``.
    """
    dtype, device = observables.dtype, observables.device
    n_qubits = observables.shape[-1].bit_length() - 1
    after_one = _after_gate(noise.single_qubit_depolarizing, noise.amplitude_damping, dtype, device)
    after_two = _after_gate(noise.two_qubit_depolarizing, noise.amplitude_damping, dtype, device)
    after_pair = None if after_two is None else joint_transfer(after_two, after_two)
    for gate in reversed(gates):
        if gate.stage.kind is StageKind.LOCAL:
            transfers = heisenberg_transfer(gate.stage.value.unsqueeze(-3))  # (K, n, 4, 4)
            if after_one is not None:
                transfers = transfers @ after_one  # backwards, the channel after the gate acts first
            for low in range(0, n_qubits - 1, 2):  # two wires at a time: half the passes over the observables
                pair = joint_transfer(transfers[:, low], transfers[:, low + 1])
                observables = apply_on_wires(observables, pair, (low, low + 1))
            if n_qubits % 2:
                observables = apply_on_wires(observables, transfers[:, -1], (n_qubits - 1,))
        else:
            transfer = heisenberg_transfer(_two_qubit_unitary(gate, n_qubits, dtype).unsqueeze(-3))
            if after_pair is not None:
                transfer = transfer @ after_pair
            observables = apply_on_wires(observables, transfer, tuple(sorted(gate.wires)))
    return observables


def _check_register(n_qubits: int) -> None:
    if n_qubits > MAX_NOISY_QUBITS:
        raise ValueError(f"noisy simulation supports at most {MAX_NOISY_QUBITS} qubits, got {n_qubits}")


def _complex(weights: torch.Tensor) -> torch.dtype:
    return torch.complex128 if weights.dtype == torch.float64 else torch.complex64


def noisy_observables(ansatz: str | Ansatz, weights: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
    """``E_k^dagger(Z_i)`` of every circuit ``k`` and wire ``i``, all channels included.

    Args:
        ansatz: name or :class:`~qpconv.circuits.Ansatz`.
        weights: real ``(K, L, n, p)``.
        noise: the channels.

    Returns:
        ``(K, n, 2**n, 2**n)`` complex, Hermitian; differentiable in ``weights``.

    Raises:
        ValueError: ``weights`` has the wrong shape, or ``n`` exceeds :data:`MAX_NOISY_QUBITS`.
    """
    gates = circuit_gates(ansatz, weights)
    n_qubits = weights.shape[-2]
    _check_register(n_qubits)
    dtype = _complex(weights)
    signs = z_signs(n_qubits, dtype, weights.device)  # (2**n, n)
    observables = torch.diag_embed(signs.T).expand(weights.shape[0], -1, -1, -1)  # Z_i, (K, n, 2**n, 2**n)
    observables = observables * noise.z_scale  # read-out flips and global depolarising scale each traceless Z_i
    return evolve_observables(gates, observables, noise)


def noisy_forms(ansatz: str | Ansatz, weights: torch.Tensor, in_channels: int, noise: NoiseModel) -> torch.Tensor:
    """The noisy layer's quadratic forms ``M~_i`` (leading ``C x C`` block of ``Re E^dagger(Z_i)``).

    Args:
        ansatz, weights, noise: as for :func:`noisy_observables`.
        in_channels: ``C``, the encoded channels.

    Returns:
        ``(K, n, C, C)`` real, symmetric: ``<Z_i>`` of circuit ``k`` on pixel ``x`` is
        ``x^T M~[k, i] x / ||x||^2``.
    """
    return noisy_observables(ansatz, weights, noise)[..., :in_channels, :in_channels].real


def outcome_forms(ansatz: str | Ansatz, weights: torch.Tensor, in_channels: int, noise: NoiseModel) -> torch.Tensor:
    """Quadratic forms of the ``2**n`` outcome probabilities after the gates and their channels.

    The projectors ``|b><b|`` evolved backwards through the gate channels (not the
    end-of-circuit ones, which :mod:`qpconv.shots` applies to the distribution and the sampled
    bits): the probability of outcome ``b`` on pixel ``x`` is ``x^T F[k, b] x / ||x||^2``.

    Args:
        ansatz, weights, in_channels, noise: as for :func:`noisy_forms`.

    Returns:
        ``(K, 2**n, C, C)`` real, symmetric.
    """
    gates = circuit_gates(ansatz, weights)
    n_qubits = weights.shape[-2]
    _check_register(n_qubits)
    dim = 2**n_qubits
    projectors = torch.diag_embed(torch.eye(dim, dtype=_complex(weights), device=weights.device))  # (2**n, 2**n, 2**n)
    observables = evolve_observables(gates, projectors.expand(weights.shape[0], -1, -1, -1), noise)
    return observables[..., :in_channels, :in_channels].real
