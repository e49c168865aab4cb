"""Differentiable construction of the circuits' unitaries (book chapters 3 and 4).

Each ansatz builds, for a batch of ``K`` circuits at once, the first ``C``
columns of the ``2**n x 2**n`` unitary ``U(theta)``: exactly the part that acts
on an amplitude-encoded vector of ``C`` channels (the remaining amplitudes are
zero padding). A circuit is described as a list of stages (a layer of
single-qubit gates, a basis permutation for a CNOT chain, diagonal phases for
a controlled-phase chain). Up to 8 qubits a layer of single-qubit gates is
applied as one dense Kronecker matrix (a handful of large operations per
block); above that, as two Kronecker blocks of half the wires each, so memory
stays ``O(2**n * C)`` per circuit.

The same circuits are also described gate by gate (:func:`circuit_gates`: one
:class:`Gate` per layer of single-qubit gates and per two-qubit gate, with the wires
it acts on), for :mod:`qpconv.noise`, which puts noise channels after every gate.
There a CNOT chain is one ``PERMUTE`` stage per CNOT, a controlled-phase chain one
``PHASE`` stage per controlled phase, and the circuit-centric ``G`` its three gates
``RZ(alpha)``, ``RX(beta)``, ``RZ(gamma)`` as PennyLane queues them
(:mod:`qpconv.pennylane_backend`); the strongly entangling ``Rot`` stays one gate, as
in PennyLane's template.

Conventions (identical to PennyLane):

* basis index ``j = sum_w b_w 2**(n-1-w)``: **wire 0 is the most significant bit**;
* ``RX(a) = exp(-i a X / 2)``, ``RY(a) = exp(-i a Y / 2)``, ``RZ(a) = exp(-i a Z / 2)``;
* ``Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)`` (``phi`` acts first);
* ``CNOT(c, t)`` flips ``t`` when ``c`` is 1; ``ControlledPhaseShift(d)`` multiplies
  ``|11>`` by ``exp(i d)``;
* entangler range of block ``l``: ``r_l = (l mod (n-1)) + 1``; gate ``i`` acts on
  wires ``(i, (i + r_l) mod n)``, ``i = 0..n-1``; no entangler when ``n == 1``.

Ansätze:

``"strongly_entangling"`` — PennyLane's ``StronglyEntanglingLayers``. Weights
``(L, n, 3)``; block ``l``: ``Rot(*w[l, i])`` on every wire ``i``, then
``CNOT(i, (i + r_l) mod n)`` for ``i = 0..n-1`` in that order.

``"product"`` — the strongly entangling ansatz without its entanglers: weights
``(L, n, 3)``; block ``l``: ``Rot(*w[l, i])`` on every wire, nothing else. A product
circuit ``U = u_0 (x) ... (x) u_{n-1}``, so ``<Z_i>`` is a one-qubit observable of wire
``i`` measured on the encoded pixel (the entanglement ablation of "What makes it work?").

``"circuit_centric"`` — the circuit-centric block of Schuld et al. used in the
paper's Section III-B. Weights ``(L, n, 5)`` = ``(alpha, beta, gamma, delta,
epsilon)``; block ``l``: ``G = RZ(gamma) RX(beta) RZ(alpha)`` on every wire,
then ``ControlledPhaseShift(delta_i)`` on wires ``(i, (i + r_l) mod n)`` for
``i = 0..n-1``, then ``RX(epsilon_i)`` on every wire. (For ``n == 2`` the two
controlled phases act on the same pair, as the CNOTs of PennyLane's template do;
for ``n == 1`` there is no entangler and ``delta`` is unused.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

import torch

from .registry import lookup

__all__ = ["ANSATZE", "Ansatz", "Gate", "Stage", "StageKind", "circuit_columns", "circuit_gates", "entangler_pairs", "get_ansatz"]


def entangler_pairs(n_qubits: int, layer: int) -> list[tuple[int, int]]:
    """Wire pairs ``(control, target)`` of block ``layer``'s entanglers, in order."""
    if n_qubits == 1:
        return []
    shift = (layer % (n_qubits - 1)) + 1
    return [(i, (i + shift) % n_qubits) for i in range(n_qubits)]


def _phase(angle: torch.Tensor) -> torch.Tensor:
    """``exp(i * angle)`` as a complex tensor (differentiable; ``torch.polar`` mis-signs gradients of negative moduli)."""
    return torch.complex(torch.cos(angle), torch.sin(angle))


def _rot_matrices(phi: torch.Tensor, theta: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """``RZ(omega) RY(theta) RZ(phi)`` for angle tensors of equal shape ``S`` -> ``(*S, 2, 2)`` complex."""
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    plus, minus = (phi + omega) / 2, (phi - omega) / 2
    row0 = torch.stack([c * _phase(-plus), -s * _phase(minus)], dim=-1)
    row1 = torch.stack([s * _phase(-minus), c * _phase(plus)], dim=-1)
    return torch.stack([row0, row1], dim=-2)


def _rz_rx_rz_matrices(alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """``G = RZ(gamma) RX(beta) RZ(alpha)`` -> ``(*S, 2, 2)`` complex.

    Uses ``RX(b) = RZ(-pi/2) RY(b) RZ(pi/2)``, hence ``G = Rot(alpha + pi/2, beta, gamma - pi/2)``.
    """
    half_pi = torch.pi / 2
    return _rot_matrices(alpha + half_pi, beta, gamma - half_pi)


def _rz_matrices(angle: torch.Tensor) -> torch.Tensor:
    """``RZ(angle)`` -> ``(*S, 2, 2)`` complex."""
    zero = torch.zeros_like(angle)
    return _rot_matrices(angle, zero, zero)


def _rx_matrices(angle: torch.Tensor) -> torch.Tensor:
    """``RX(angle)`` -> ``(*S, 2, 2)`` complex."""
    zero = torch.zeros_like(angle)
    return _rz_rx_rz_matrices(zero, angle, zero)


class StageKind(Enum):
    """What a :class:`Stage` of a circuit does to a batch of ``K`` circuits' states."""

    LOCAL = "local"
    """``value`` ``(K, n, 2, 2)``: one single-qubit gate on every wire."""
    PERMUTE = "permute"
    """``value`` ``(2**n,)``: a basis permutation, ``new_state = old_state[value]`` (CNOT chains)."""
    PHASE = "phase"
    """``value`` ``(K, 2**n)``: diagonal phases ``exp(i * value)`` (controlled-phase chains)."""


class Stage(NamedTuple):
    """One step of a circuit: its kind and the tensor it applies (see :class:`StageKind`)."""

    kind: StageKind
    value: torch.Tensor


class Gate(NamedTuple):
    """One gate of a circuit described gate by gate (see :func:`circuit_gates`).

    ``stage`` is what it does: a ``LOCAL`` stage is one single-qubit gate on every wire at
    once (gates on distinct wires, so noise after each of them is noise on every wire after
    the stage); a ``PERMUTE`` or ``PHASE`` stage is one two-qubit gate. ``wires`` are the
    wires it acts on, all of them for ``LOCAL``, ``(control, target)`` otherwise.
    """

    stage: Stage
    wires: tuple[int, ...]


_KRON_MAX_QUBITS = 8
"""Up to this many qubits a layer of single-qubit gates is applied as one dense Kronecker
matrix (few large operations: fastest); beyond it, wire by wire (memory O(2**n * C))."""


def _bit(index: torch.Tensor, wire: int, n_qubits: int) -> torch.Tensor:
    return (index >> (n_qubits - 1 - wire)) & 1


def _cnot_flip(index: torch.Tensor, control: int, target: int, n_qubits: int) -> torch.Tensor:
    """Row gather index of one ``CNOT(control, target)`` on basis indices ``index``: ``new = old[flip]``."""
    return index ^ (_bit(index, control, n_qubits) << (n_qubits - 1 - target))


def _cnot_permutation(n_qubits: int, layer: int, device: torch.device) -> torch.Tensor:
    """Row gather index realising block ``layer``'s CNOT chain: ``new = old[perm]``."""
    index = torch.arange(2**n_qubits, device=device)
    perm = index.clone()
    for control, target in entangler_pairs(n_qubits, layer):
        perm = perm[_cnot_flip(index, control, target, n_qubits)]
    return perm


def _controlled_phase_exponents(n_qubits: int, layer: int, device: torch.device) -> torch.Tensor:
    """``(n_pairs, 2**n)`` 0/1 matrix: entry ``(g, j)`` is 1 when entangler ``g`` of block ``layer`` phases ``|j>``."""
    index = torch.arange(2**n_qubits, device=device)
    rows = [
        _bit(index, control, n_qubits) * _bit(index, target, n_qubits) for control, target in entangler_pairs(n_qubits, layer)
    ]
    return torch.stack(rows) if rows else torch.zeros(0, 2**n_qubits, dtype=torch.long, device=device)


def _strongly_entangling(weights: torch.Tensor) -> list[Stage]:
    n_layers, n_qubits = weights.shape[1], weights.shape[2]
    rot = _rot_matrices(weights[..., 0], weights[..., 1], weights[..., 2])  # (K, L, n, 2, 2)
    stages: list[Stage] = []
    for layer in range(n_layers):
        stages.append(Stage(StageKind.LOCAL, rot[:, layer]))
        if n_qubits > 1:
            stages.append(Stage(StageKind.PERMUTE, _cnot_permutation(n_qubits, layer, weights.device)))
    return stages


def _product(weights: torch.Tensor) -> list[Stage]:
    rot = _rot_matrices(weights[..., 0], weights[..., 1], weights[..., 2])  # (K, L, n, 2, 2)
    return [Stage(StageKind.LOCAL, rot[:, layer]) for layer in range(weights.shape[1])]


def _circuit_centric(weights: torch.Tensor) -> list[Stage]:
    n_layers, n_qubits = weights.shape[1], weights.shape[2]
    g = _rz_rx_rz_matrices(weights[..., 0], weights[..., 1], weights[..., 2])  # (K, L, n, 2, 2)
    rx = _rx_matrices(weights[..., 4])
    stages: list[Stage] = []
    for layer in range(n_layers):
        stages.append(Stage(StageKind.LOCAL, g[:, layer]))
        exponents = _controlled_phase_exponents(n_qubits, layer, weights.device).to(weights.dtype)
        if len(exponents):
            stages.append(Stage(StageKind.PHASE, weights[:, layer, : len(exponents), 3] @ exponents))
        stages.append(Stage(StageKind.LOCAL, rx[:, layer]))
    return stages


def _strongly_entangling_gates(weights: torch.Tensor) -> list[Gate]:
    n_layers, n_qubits = weights.shape[1], weights.shape[2]
    rot = _rot_matrices(weights[..., 0], weights[..., 1], weights[..., 2])  # (K, L, n, 2, 2)
    index = torch.arange(2**n_qubits, device=weights.device)
    every_wire = tuple(range(n_qubits))
    gates: list[Gate] = []
    for layer in range(n_layers):
        gates.append(Gate(Stage(StageKind.LOCAL, rot[:, layer]), every_wire))
        for control, target in entangler_pairs(n_qubits, layer):
            gates.append(Gate(Stage(StageKind.PERMUTE, _cnot_flip(index, control, target, n_qubits)), (control, target)))
    return gates


def _product_gates(weights: torch.Tensor) -> list[Gate]:
    every_wire = tuple(range(weights.shape[2]))
    return [Gate(stage, every_wire) for stage in _product(weights)]


def _circuit_centric_gates(weights: torch.Tensor) -> list[Gate]:
    n_layers, n_qubits = weights.shape[1], weights.shape[2]
    rz_alpha, rx_beta, rz_gamma = _rz_matrices(weights[..., 0]), _rx_matrices(weights[..., 1]), _rz_matrices(weights[..., 2])
    rx_epsilon = _rx_matrices(weights[..., 4])
    every_wire = tuple(range(n_qubits))
    gates: list[Gate] = []
    for layer in range(n_layers):
        gates += [Gate(Stage(StageKind.LOCAL, gate[:, layer]), every_wire) for gate in (rz_alpha, rx_beta, rz_gamma)]
        exponents = _controlled_phase_exponents(n_qubits, layer, weights.device).to(weights.dtype)
        for index, pair in enumerate(entangler_pairs(n_qubits, layer)):
            phases = weights[:, layer, index, 3, None] * exponents[index]  # (K, 2**n)
            gates.append(Gate(Stage(StageKind.PHASE, phases), pair))
        gates.append(Gate(Stage(StageKind.LOCAL, rx_epsilon[:, layer]), every_wire))
    return gates


def _kron_pair(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Batched Kronecker product of square ``(K, p, p)`` and ``(K, q, q)`` -> ``(K, p*q, p*q)``."""
    k, p, q = left.shape[0], left.shape[1], right.shape[1]
    # an outer product as a matrix product: its backward is two matrix products, much faster
    # than the strided reductions of a broadcast product's backward
    outer = left.reshape(k, p * p, 1) @ right.reshape(k, 1, q * q)
    return outer.view(k, p, p, q, q).transpose(2, 3).reshape(k, p * q, p * q)


def _kron(gates: torch.Tensor) -> torch.Tensor:
    """``(K, n, 2, 2)`` -> ``(K, 2**n, 2**n)``: ``gates[:, 0] (x) gates[:, 1] (x) ...`` (wire 0 most significant)."""
    n_qubits = gates.shape[1]
    if n_qubits > 3:
        half = n_qubits // 2
        return _kron_pair(_kron(gates[:, :half]), _kron(gates[:, half:]))
    matrix = gates[:, 0]
    for wire in range(1, n_qubits):
        k, a, b = matrix.shape
        matrix = (matrix[:, :, None, :, None] * gates[:, wire, None, :, None, :]).reshape(k, 2 * a, 2 * b)
    return matrix


def _apply_in_two_blocks(state: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
    """Apply ``gates`` ``(K, n, 2, 2)``, one per wire, to ``state`` ``(K, 2**n, C)`` as two Kronecker blocks.

    The gates of the first ``h = n // 2`` wires form one ``2**h x 2**h`` matrix, those of the
    others one ``2**(n-h) x 2**(n-h)`` matrix (:func:`_kron`); each is one batched matrix
    product on the state viewed as ``(K, 2**h, 2**(n-h) * C)`` and ``(K, 2**h, 2**(n-h), C)``.
    Two large products instead of ``n`` small ones, and no ``2**n x 2**n`` matrix.
    """
    k, dim, cols = state.shape
    high = gates.shape[1] // 2
    upper, lower = _kron(gates[:, :high]), _kron(gates[:, high:])
    state = (upper @ state.reshape(k, 2**high, -1)).reshape(k, 2**high, dim >> high, cols)
    return (lower.unsqueeze(1) @ state).reshape(k, dim, cols)


def _two_block_columns(gates: torch.Tensor, n_columns: int, rows: torch.Tensor | None = None) -> torch.Tensor:
    """The first ``n_columns`` columns of ``gates``' Kronecker product, ``(K, 2**n, n_columns)``, from its two blocks.

    What :func:`_apply_in_two_blocks` gives on the identity's leading columns, without its two
    matrix products: entry ``(j, c)``, with ``j = (j_high, j_low)`` and ``c = (c_high, c_low)``,
    is ``upper[j_high, c_high] * lower[j_low, c_low]``, so each row is the outer product of a row
    of each block (only the columns needed): one batched matrix product with inner dimension 1,
    which writes the result once, in order, and whose backward is two matrix products.

    ``rows``, a basis permutation ``(2**n,)``, reorders the rows as the ``PERMUTE`` stage that
    follows would (row ``r`` is row ``rows[r]``), in the same single write: a CNOT chain after
    the first layer costs no pass over the state.
    """
    k, n_qubits = gates.shape[:2]
    high = n_qubits // 2
    upper, lower = _kron(gates[:, :high]), _kron(gates[:, high:])
    rows_low = lower.shape[1]
    dim = upper.shape[1] * rows_low
    rows = torch.arange(dim, device=gates.device) if rows is None else rows
    needed = -(-n_columns // rows_low)  # columns of the upper block that the leading columns use
    left = upper[:, rows // rows_low, :needed].reshape(k * dim, needed, 1)
    right = lower[:, rows % rows_low].reshape(k * dim, 1, rows_low)
    return (left @ right).view(k, dim, needed * rows_low)[..., :n_columns]


class _RowPermutation(torch.autograd.Function):
    """``state[:, perm]`` for a permutation ``perm``, whose backward gathers by the inverse permutation.

    The generic backward of an index scatters into a tensor of zeros: two passes over the
    state instead of one, which is most of a permutation's cost at many qubits.
    """

    @staticmethod
    def forward(ctx: Any, state: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(len(perm), device=perm.device)
        ctx.save_for_backward(inverse)
        return state.index_select(1, perm)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (inverse,) = ctx.saved_tensors
        return grad.index_select(1, inverse), None


def _run_stages(stages: list[Stage], identity: torch.Tensor, n_qubits: int) -> torch.Tensor:
    """Apply ``stages`` in order to ``identity``, the ``(K, 2**n, C)`` leading identity columns."""
    dense = n_qubits <= _KRON_MAX_QUBITS
    if dense:  # the Kronecker matrices of all local stages at once: a few large operations
        local_gates = [value for kind, value in stages if kind is StageKind.LOCAL]
        krons = iter(_kron(torch.cat(local_gates)).split(identity.shape[0]))
    state = identity
    if not dense and stages and stages[0].kind is StageKind.LOCAL:
        # the first layer on the identity's columns, and the permutation after it, in one write
        rows = stages[1].value if len(stages) > 1 and stages[1].kind is StageKind.PERMUTE else None
        state = _two_block_columns(stages[0].value, identity.shape[-1], rows)
        stages = stages[1 if rows is None else 2 :]
    for kind, value in stages:
        if kind is StageKind.LOCAL and not dense:
            state = _apply_in_two_blocks(state, value)
        elif kind is StageKind.LOCAL:
            # a product with the identity's leading columns is a slice (saves the largest product)
            kron = next(krons)
            state = kron[..., : identity.shape[-1]] if state is identity else kron @ state
        elif kind is StageKind.PERMUTE:
            state = _RowPermutation.apply(state, value)
        else:
            state = state * _phase(value).unsqueeze(-1)
    return state


def _last_final_rz(n_layers: int, n_qubits: int) -> torch.Tensor:
    """``(L, n, 3)``: True at the last block's ``omega``, the final ``R_z`` of its ``Rot`` gates.

    A block's final ``R_z`` commutes with ``Z`` and passes through the CNOTs after it
    (CNOTs map products of ``Z`` to products of ``Z``), so only the next block's ``R_y``
    makes it matter; after the last block nothing does: it changes no ``<Z_i>``.
    """
    mask = torch.zeros(n_layers, n_qubits, 3, dtype=torch.bool)
    mask[-1, :, 2] = True
    return mask


def _every_angle_counts(n_layers: int, n_qubits: int) -> torch.Tensor:
    return torch.zeros(n_layers, n_qubits, 5, dtype=torch.bool)


@dataclass(frozen=True)
class Ansatz:
    """A named trainable circuit family.

    Attributes:
        name: registry key.
        params_per_qubit: trailing weight dimension; weights are ``(K, L, n, params_per_qubit)``.
        stages: ``weights (K, L, n, p) -> list of stages`` describing the circuit (see ``_run_stages``).
        ineffective: ``(L, n) -> (L, n, p)`` boolean mask of the angles that change no
            ``<Z_i>`` whatever the other angles are (a test perturbs them and checks).
        gates: ``weights (K, L, n, p) -> list of gates``: the same circuit gate by gate
            (see :func:`circuit_gates`).
    """

    name: str
    params_per_qubit: int
    stages: Callable[[torch.Tensor], list[Stage]]
    ineffective: Callable[[int, int], torch.Tensor]
    gates: Callable[[torch.Tensor], list[Gate]]

    def weight_shape(self, n_layers: int, n_qubits: int) -> tuple[int, int, int]:
        """Shape ``(L, n, p)`` of one circuit's weights."""
        return (n_layers, n_qubits, self.params_per_qubit)


ANSATZE: dict[str, Ansatz] = {
    "strongly_entangling": Ansatz("strongly_entangling", 3, _strongly_entangling, _last_final_rz, _strongly_entangling_gates),
    "product": Ansatz("product", 3, _product, _last_final_rz, _product_gates),
    "circuit_centric": Ansatz("circuit_centric", 5, _circuit_centric, _every_angle_counts, _circuit_centric_gates),
}


def get_ansatz(name: str) -> Ansatz:
    """Look up an ansatz by name; ``ValueError`` listing the valid names otherwise."""
    return lookup(ANSATZE, name, "ansatz")


def _checked_batch(ansatz: Ansatz, weights: torch.Tensor) -> torch.Tensor:
    """``weights`` as a batch ``(K, L, n, p)`` (a ``(L, n, p)`` one gets ``K = 1``); ``ValueError`` for another shape."""
    if weights.dim() == 3:
        weights = weights.unsqueeze(0)
    if weights.dim() != 4 or weights.shape[-1] != ansatz.params_per_qubit:
        raise ValueError(
            f"{ansatz.name} weights must have shape (K, L, n, {ansatz.params_per_qubit}), got {tuple(weights.shape)}"
        )
    return weights


def circuit_gates(ansatz: str | Ansatz, weights: torch.Tensor) -> list[Gate]:
    """The circuits of a batch gate by gate, in the order they act (for noise after every gate).

    Args:
        ansatz: name or :class:`Ansatz`.
        weights: real tensor ``(K, L, n, p)`` or ``(L, n, p)`` (then ``K = 1``).

    Returns:
        :class:`Gate` s in circuit order: ``LOCAL`` values ``(K, n, 2, 2)`` (one single-qubit
        gate per wire), ``PERMUTE`` values ``(2**n,)`` (one CNOT), ``PHASE`` values ``(K, 2**n)``
        (one controlled phase). Their product is the unitary of :func:`circuit_columns`.

    Raises:
        ValueError: ``weights`` has another shape.
    """
    ansatz = get_ansatz(ansatz) if isinstance(ansatz, str) else ansatz
    return ansatz.gates(_checked_batch(ansatz, weights))


def circuit_columns(ansatz: str | Ansatz, weights: torch.Tensor, n_columns: int | None = None) -> torch.Tensor:
    """First ``n_columns`` columns of each circuit's unitary.

    Args:
        ansatz: name or :class:`Ansatz`.
        weights: real tensor ``(K, L, n, p)`` (a batch of ``K`` circuits) or ``(L, n, p)``.
        n_columns: how many leading columns (input basis states) to return; default ``2**n``.

    Returns:
        Complex tensor ``(K, 2**n, n_columns)`` (``(2**n, n_columns)`` for unbatched weights)
        with entry ``[k, j, c] = <j| U_k |c>``; complex64 for float32 weights, complex128 for float64.
    """
    ansatz = get_ansatz(ansatz) if isinstance(ansatz, str) else ansatz
    unbatched = weights.dim() == 3
    weights = _checked_batch(ansatz, weights)
    n_qubits = weights.shape[2]
    dim = 2**n_qubits
    n_columns = dim if n_columns is None else n_columns
    complex_dtype = torch.complex128 if weights.dtype == torch.float64 else torch.complex64
    identity = torch.eye(dim, n_columns, dtype=complex_dtype, device=weights.device)
    state = identity.expand(weights.shape[0], dim, n_columns)
    columns = _run_stages(ansatz.stages(weights), state, n_qubits)
    return columns[0] if unbatched else columns
