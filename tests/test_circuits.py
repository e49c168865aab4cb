"""Unitaries built by the ansätze: unitarity, gate conventions, batch shapes."""

import math

import pennylane as qml
import pytest
import torch

from qpconv.circuits import ANSATZE, circuit_columns, entangler_pairs, get_ansatz


def random_weights(ansatz, n_circuits, n_layers, n_qubits, dtype=torch.float64):
    return 2 * math.pi * torch.rand(n_circuits, *get_ansatz(ansatz).weight_shape(n_layers, n_qubits), dtype=dtype)


@pytest.mark.parametrize("ansatz", sorted(ANSATZE))
@pytest.mark.parametrize("n_qubits", [1, 2, 3, 6, 10])
def test_unitary_is_unitary(ansatz, n_qubits):
    n_layers = 2 if n_qubits < 10 else 1
    u = circuit_columns(ansatz, random_weights(ansatz, 2, n_layers, n_qubits))
    identity = torch.eye(2**n_qubits, dtype=u.dtype)
    assert (u.mH @ u - identity).abs().max() < 1e-12


@pytest.mark.parametrize("ansatz", sorted(ANSATZE))
def test_unitary_equals_pennylane_matrix(ansatz):
    from qpconv.pennylane_backend import apply_ansatz

    n_qubits, n_layers = 3, 3
    weights = random_weights(ansatz, 1, n_layers, n_qubits)[0]
    expected = qml.matrix(lambda w: apply_ansatz(ansatz, w, list(range(n_qubits))), wire_order=range(n_qubits))(weights)
    actual = circuit_columns(ansatz, weights)
    torch.testing.assert_close(actual, torch.as_tensor(expected), atol=1e-12, rtol=0)


def test_rotation_gate_conventions():
    """A one-qubit, one-block circuit is PennyLane's Rot (strongly entangling) or RX.RZ.RX.RZ (circuit-centric)."""
    phi, theta, omega = 0.3, 1.1, -0.7
    rot = circuit_columns("strongly_entangling", torch.tensor([[[phi, theta, omega]]], dtype=torch.float64))
    torch.testing.assert_close(rot, torch.as_tensor(qml.matrix(qml.Rot(phi, theta, omega, wires=0))))
    alpha, beta, gamma, eps = 0.2, 0.9, 1.7, -0.4
    cc = circuit_columns("circuit_centric", torch.tensor([[[alpha, beta, gamma, 0.0, eps]]], dtype=torch.float64))
    expected = (
        qml.matrix(qml.RX(eps, wires=0))
        @ qml.matrix(qml.RZ(gamma, wires=0))
        @ qml.matrix(qml.RX(beta, wires=0))
        @ qml.matrix(qml.RZ(alpha, wires=0))
    )
    torch.testing.assert_close(cc, torch.as_tensor(expected))


def test_entangler_ranges_follow_pennylane():
    assert entangler_pairs(1, 0) == []
    assert entangler_pairs(2, 0) == [(0, 1), (1, 0)]
    assert entangler_pairs(4, 0) == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert entangler_pairs(4, 1) == [(0, 2), (1, 3), (2, 0), (3, 1)]
    assert entangler_pairs(4, 3) == entangler_pairs(4, 0)


def test_leading_columns_match_full_unitary():
    weights = random_weights("strongly_entangling", 3, 2, 4)
    full = circuit_columns("strongly_entangling", weights)
    assert circuit_columns("strongly_entangling", weights, 11).shape == (3, 16, 11)
    torch.testing.assert_close(circuit_columns("strongly_entangling", weights, 11), full[..., :11])


def test_float32_weights_give_complex64():
    assert (
        circuit_columns("strongly_entangling", random_weights("strongly_entangling", 1, 1, 2, torch.float32)).dtype
        == torch.complex64
    )


def test_unknown_ansatz_and_bad_weight_shape():
    with pytest.raises(
        ValueError, match=r"unknown ansatz 'bogus'; expected one of \['strongly_entangling', 'product', 'circuit_centric'\]"
    ):
        get_ansatz("bogus")
    with pytest.raises(ValueError, match=r"strongly_entangling weights must have shape \(K, L, n, 3\), got \(1, 2, 3, 5\)"):
        circuit_columns("strongly_entangling", torch.zeros(1, 2, 3, 5))


@pytest.mark.parametrize("n_columns", [1, 19, 32])
@pytest.mark.parametrize("ansatz", sorted(ANSATZE))
def test_dense_and_two_block_paths_agree(ansatz, n_columns, monkeypatch):
    import qpconv.circuits

    weights = random_weights(ansatz, 2, 3, 5).requires_grad_(True)
    probe = torch.randn(2, 32, n_columns, dtype=torch.complex128)  # a fixed random linear function of the columns

    def loss(columns):
        return (columns * probe.conj()).real.sum()

    dense = circuit_columns(ansatz, weights, n_columns)
    (dense_grad,) = torch.autograd.grad(loss(dense), weights)
    monkeypatch.setattr(qpconv.circuits, "_KRON_MAX_QUBITS", 0)
    blocks = circuit_columns(ansatz, weights, n_columns)
    (blocks_grad,) = torch.autograd.grad(loss(blocks), weights)
    assert dense_grad.abs().max() > 1e-3  # the loss depends on the angles
    torch.testing.assert_close(dense, blocks, atol=1e-12, rtol=0)
    torch.testing.assert_close(dense_grad, blocks_grad, atol=1e-12, rtol=0)
