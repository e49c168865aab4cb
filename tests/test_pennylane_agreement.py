"""The exact backend equals PennyLane's default.qubit: values, parameter-shift and backprop gradients.

Float64 throughout; both ansätze; 1-7 qubits; 1-4 blocks; channel counts that
are and are not powers of two; random weights and inputs.
"""

import math

import pytest
import torch

from qpconv import QuantumPointwiseConv2d
from qpconv.pennylane_backend import build_qnode, pennylane_expectations

CASES = [
    # (ansatz, n_qubits, n_layers, in_channels)
    *[("strongly_entangling", n, 1 + (n - 1) % 4, c) for n in range(1, 8) for c in sorted({max(1, 2 ** (n - 1) + 1), 2**n})],
    *[("circuit_centric", n, 1 + n % 4, c) for n in range(1, 8) for c in sorted({max(1, 2 ** (n - 1) + 1), 2**n})],
    *[("product", n, 1 + n % 3, c) for n in (1, 3, 6) for c in sorted({max(1, 2 ** (n - 1) + 1), 2**n})],
    ("strongly_entangling", 3, 4, 7),
    ("circuit_centric", 3, 4, 7),
]


def make_layer(ansatz, n_qubits, n_layers, in_channels, n_circuits=2):
    torch.manual_seed(1000 * n_qubits + 10 * n_layers + in_channels)
    return QuantumPointwiseConv2d(
        in_channels, n_circuits * n_qubits, n_layers=n_layers, ansatz=ansatz, n_qubits=n_qubits, dtype=torch.float64
    )


def case_id(case):
    ansatz, n, layers, channels = case
    return f"{ansatz}-n{n}-L{layers}-C{channels}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_values_agree_to_1e10(case):
    layer = make_layer(*case)
    pixels = torch.randn(6, layer.in_channels, dtype=torch.float64)
    qnode = build_qnode(layer.ansatz, layer.n_qubits, "default.qubit", "backprop")
    expected = pennylane_expectations(pixels, layer.weights.detach(), qnode)
    actual = layer.expectations(pixels).detach()
    assert actual.shape == (6, layer.n_circuits, layer.n_qubits)
    assert (actual - expected).abs().max() < 1e-10


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_weight_gradients_agree_with_parameter_shift_to_1e8(case):
    layer = make_layer(*case, n_circuits=1)
    pixels = torch.randn(3, layer.in_channels, dtype=torch.float64)
    cotangent = torch.randn(3, 1, layer.n_qubits, dtype=torch.float64)

    (layer.expectations(pixels) * cotangent).sum().backward()
    exact_grad = layer.weights.grad.clone()

    weights = layer.weights.detach().clone().requires_grad_(True)
    qnode = build_qnode(layer.ansatz, layer.n_qubits, "default.qubit", "parameter-shift")
    (pennylane_expectations(pixels, weights, qnode) * cotangent).sum().backward()
    assert (exact_grad - weights.grad).abs().max() < 1e-8


@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_input_gradients_agree_with_pennylane_backprop_to_1e8(case):
    layer = make_layer(*case)
    pixels = torch.randn(4, layer.in_channels, dtype=torch.float64, requires_grad=True)
    cotangent = torch.randn(4, layer.n_circuits, layer.n_qubits, dtype=torch.float64)
    (exact_grad,) = torch.autograd.grad((layer.expectations(pixels) * cotangent).sum(), pixels)
    qnode = build_qnode(layer.ansatz, layer.n_qubits, "default.qubit", "backprop")
    (pennylane_grad,) = torch.autograd.grad(
        (pennylane_expectations(pixels, layer.weights.detach(), qnode) * cotangent).sum(), pixels
    )
    assert (exact_grad - pennylane_grad).abs().max() < 1e-8


def test_pennylane_backend_layer_matches_exact_layer_and_handles_zero_pixels():
    exact = QuantumPointwiseConv2d(5, 7, n_layers=2, dtype=torch.float64)
    via_pennylane = QuantumPointwiseConv2d(5, 7, n_layers=2, backend="pennylane", diff_method="backprop", dtype=torch.float64)
    via_pennylane.load_state_dict(exact.state_dict())
    x = torch.randn(2, 5, 3, 3, dtype=torch.float64)
    x[0, :, 1, 1] = 0.0
    expected = exact(x)
    actual = via_pennylane(x)
    assert torch.isfinite(actual).all()
    torch.testing.assert_close(actual, expected, atol=1e-10, rtol=0)
    assert torch.equal(actual[0, :, 1, 1], torch.zeros(7, dtype=torch.float64))


def test_layer_qnode_returns_circuit_k_with_live_weights():
    layer = QuantumPointwiseConv2d(6, 9, n_layers=2, dtype=torch.float64)
    x = torch.randn(1, 6, 1, 1, dtype=torch.float64)
    out = layer(x)[0, :, 0, 0]
    for k in range(layer.n_circuits):
        values = torch.stack(list(layer.qnode(k)(x[0, :, 0, 0])))
        n = layer.n_qubits
        torch.testing.assert_close(values[: min(n, 9 - k * n)], out[k * n : (k + 1) * n], atol=1e-10, rtol=0)
    with torch.no_grad():
        layer.weights.add_(math.pi / 3)
    torch.testing.assert_close(torch.stack(list(layer.qnode(0)(x[0, :, 0, 0]))), layer(x)[0, :3, 0, 0])
    with pytest.raises(ValueError, match="circuit index 3 out of range for a layer of 3 circuits"):
        layer.qnode(3)
