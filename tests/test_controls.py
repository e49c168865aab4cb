"""The dequantised layer and the controls: against brute-force references, with the quantum layer's input contract."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qpconv import (
    NormalisedLinearConv2d,
    NormalisedQuadraticConv2d,
    QuadraticFormConv2d,
    QuantumPointwiseConv2d,
    UnitaryReadoutConv2d,
    dequantise,
)
from qpconv.circuits import circuit_columns
from qpconv.dequantise import form_matrices, full_observables
from qpconv.replication.models import POINTWISE_BLOCKS, build_model, parameter_summary

F64 = torch.float64


def brute_force_expectations(layer: QuantumPointwiseConv2d, pixels: torch.Tensor) -> torch.Tensor:
    """<x|U^dagger Z_i U|x> / <x|x> pixel by pixel with the full unitaries, ``(P, C_out)``."""
    observables = full_observables(layer)  # (K, n, 2**n, 2**n)
    padded = torch.nn.functional.pad(pixels, (0, 2**layer.n_qubits - pixels.shape[1])).to(observables.dtype)
    values = torch.einsum("pa,kiab,pb->pki", padded.conj(), observables, padded).real
    norms = (pixels**2).sum(dim=1).clamp_min(1e-300)
    return (values / norms[:, None, None]).reshape(len(pixels), -1)[:, : layer.out_channels]


CASES = [
    (20, 15, 3, "strongly_entangling"),
    (8, 9, 2, "circuit_centric"),
    (1, 2, 1, "strongly_entangling"),
    (16, 7, 2, "product"),
]


@pytest.mark.parametrize(("c_in", "c_out", "n_layers", "ansatz"), CASES)
def test_the_dequantised_layer_reproduces_outputs_and_input_gradients(c_in, c_out, n_layers, ansatz):
    torch.manual_seed(1)
    quantum = QuantumPointwiseConv2d(c_in, c_out, n_layers, ansatz=ansatz, dtype=F64)
    classical = dequantise(quantum)
    x = torch.randn(3, c_in, 4, 2, dtype=F64)
    x[1, :, 2, 1] = 0.0  # a zero pixel
    xq, xc = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    yq, yc = quantum(xq), classical(xc)
    weighting = torch.randn_like(yq)
    (yq * weighting).sum().backward()
    (yc * weighting).sum().backward()
    assert (yq - yc).abs().max() <= 1e-10 and (xq.grad - xc.grad).abs().max() <= 1e-10
    assert torch.all(yc[1, :, 2, 1] == 0) and torch.all(xc.grad[1, :, 2, 1] == 0)
    pixels = x.permute(0, 2, 3, 1).reshape(-1, c_in)
    torch.testing.assert_close(quantum.pixel_map(pixels), brute_force_expectations(quantum, pixels), atol=1e-12, rtol=0)


def test_the_forms_have_the_properties_the_book_states():
    torch.manual_seed(2)
    layer = QuantumPointwiseConv2d(24, 20, 3, dtype=F64)
    matrices = form_matrices(layer)
    assert matrices.shape == (20, 24, 24)
    torch.testing.assert_close(matrices, matrices.transpose(1, 2), atol=0, rtol=0)
    eigenvalues = torch.linalg.eigvalsh(matrices)
    assert eigenvalues.min() >= -1 - 1e-12 and eigenvalues.max() <= 1 + 1e-12
    observables = full_observables(layer)
    n = layer.n_qubits
    spectrum = torch.linalg.eigvalsh(observables)
    expected = torch.cat([-torch.ones(2 ** (n - 1)), torch.ones(2 ** (n - 1))]).to(F64)
    assert (spectrum - expected).abs().max() < 1e-10
    assert observables.diagonal(dim1=-2, dim2=-1).sum(-1).abs().max() < 1e-10
    for i in range(n):  # one circuit's observables commute: one basis diagonalises them all
        commutator = observables[:, 0] @ observables[:, i] - observables[:, i] @ observables[:, 0]
        assert commutator.abs().max() < 1e-10
    # M_c is the leading block of Re(U^dagger Z_i U)
    torch.testing.assert_close(matrices[:n], observables[0].real[:, :24, :24], atol=1e-12, rtol=0)


def test_the_last_blocks_final_z_rotation_changes_no_form():
    """Re(U^dagger Z U) does not see R_z(omega) of the last block: the angles the book counts as ineffective."""
    torch.manual_seed(3)
    layer = QuantumPointwiseConv2d(16, 8, 2, dtype=F64)
    before = form_matrices(layer)
    with torch.no_grad():
        layer.weights[:, -1, :, 2] += torch.rand_like(layer.weights[:, -1, :, 2])
    torch.testing.assert_close(form_matrices(layer), before, atol=1e-12, rtol=0)


def test_normalised_quadratic_layer_against_its_matrices():
    torch.manual_seed(4)
    layer = NormalisedQuadraticConv2d(12, 5, rank=4, dtype=F64)
    x = torch.randn(2, 12, 3, 3, dtype=F64)
    reference = QuadraticFormConv2d(layer.matrices().detach())(x)
    torch.testing.assert_close(layer(x), reference, atol=1e-12, rtol=0)
    assert sum(p.numel() for p in layer.parameters()) == 4 * (12 + 5)
    assert torch.allclose(layer.matrices(), layer.matrices().transpose(1, 2))


def test_normalised_linear_layer_is_a_conv_of_the_unit_direction():
    torch.manual_seed(5)
    layer = NormalisedLinearConv2d(6, 4, dtype=F64)
    conv = nn.Conv2d(6, 4, 1, dtype=F64)
    conv.weight.data = layer.linear.weight.data.view(4, 6, 1, 1)
    conv.bias.data = layer.linear.bias.data
    x = torch.randn(2, 6, 3, 3, dtype=F64)
    torch.testing.assert_close(layer(x * 1e20), conv(x / x.norm(dim=1, keepdim=True)), atol=1e-12, rtol=0)


def test_unitary_relaxation_reads_out_a_unitary_exactly():
    torch.manual_seed(6)
    layer = UnitaryReadoutConv2d(8, 5, dtype=F64)
    columns = layer.columns
    torch.testing.assert_close(columns.mH @ columns, torch.eye(8, dtype=torch.complex128).expand(2, 8, 8), atol=1e-12, rtol=0)
    x = torch.randn(7, 8, dtype=F64)
    psi = torch.einsum("kjc,pc->pkj", columns, x.to(columns.dtype))
    z = torch.tensor([[1 - 2 * ((j >> (2 - i)) & 1) for i in range(3)] for j in range(8)], dtype=F64)
    reference = (psi.abs() ** 2 @ z).reshape(7, 6)[:, :5] / (x**2).sum(1, keepdim=True)
    torch.testing.assert_close(layer.pixel_map(x), reference, atol=1e-12, rtol=0)
    layer(torch.randn(2, 8, 2, 2, dtype=F64)).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


def test_a_circuit_is_one_of_the_relaxations_unitaries():
    torch.manual_seed(7)
    quantum = QuantumPointwiseConv2d(8, 6, 2, dtype=F64)
    relaxed = UnitaryReadoutConv2d(8, 6, dtype=F64)
    x = torch.randn(5, 8, dtype=F64)
    expected = quantum.pixel_map(x)
    from qpconv.simulation import pauli_z_expectations

    columns = circuit_columns(quantum.ansatz, quantum.weights.detach(), 8)
    torch.testing.assert_close(pauli_z_expectations(x, columns).reshape(5, -1)[:, :6], expected)
    assert relaxed.pixel_map(x).shape == expected.shape


@pytest.mark.parametrize(
    "make",
    [
        lambda: NormalisedQuadraticConv2d(4, 3, rank=2),
        lambda: NormalisedLinearConv2d(4, 3),
        lambda: UnitaryReadoutConv2d(4, 3),
        lambda: dequantise(QuantumPointwiseConv2d(4, 3, 1)),
    ],
    ids=["quadratic", "linear", "unitary", "dequantised"],
)
def test_controls_keep_the_quantum_layers_input_contract(make):
    layer = make()
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\), got shape \(2, 4\)"):
        layer(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"expected 4 input channels, got 5"):
        layer(torch.randn(1, 5, 2, 2))
    with pytest.raises(TypeError, match=r"input dtype torch.float64 does not match the layer's weights dtype torch.float32"):
        layer(torch.randn(1, 4, 2, 2, dtype=F64))
    bad = torch.randn(1, 4, 2, 2)
    bad[0, 1, 0, 0] = math.nan
    with pytest.raises(ValueError, match=r"input contains 1 NaN or infinite value\(s\)"):
        layer(bad)
    assert layer(torch.randn(0, 4, 2, 2)).shape == (0, 3, 2, 2)
    x = torch.randn(2, 4, 3, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = layer(x.bfloat16())
    assert autocast.dtype == torch.float32
    torch.testing.assert_close(autocast, layer(x.bfloat16().float()), rtol=0, atol=1e-6)
    channels_last = layer(x.contiguous(memory_format=torch.channels_last))
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(channels_last, layer(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda: NormalisedQuadraticConv2d(4, 3, rank=0), "rank must be a positive integer, got 0"),
        (lambda: NormalisedLinearConv2d(0, 3), "in_channels must be a positive integer, got 0"),
        (lambda: UnitaryReadoutConv2d(8, 3, n_qubits=2), r"n_qubits=2 holds only 4 amplitudes but in_channels=8"),
        (lambda: QuadraticFormConv2d(torch.randn(2, 3, 3)), "matrices must be symmetric"),
        (lambda: QuadraticFormConv2d(torch.randn(2, 3)), r"matrices must be real and \(C_out, C_in, C_in\)"),
    ],
)
def test_bad_construction_is_refused_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_every_pointwise_block_maps_the_features_and_trains():
    for kind, block in POINTWISE_BLOCKS.items():
        torch.manual_seed(8)
        model = build_model("cifar10", kind, n_layers=2 if block.has_circuits else None)
        out = model.pointwise(torch.randn(2, 128, 4, 4))
        assert out.shape == (2, 128, 4, 4), kind
        model(torch.randn(2, 3, 32, 32)).sum().backward()
        trainable = [p for p in model.pointwise.parameters() if p.requires_grad]
        assert all(p.grad is not None for p in trainable), kind


@pytest.mark.parametrize("kind", sorted(POINTWISE_BLOCKS))
def test_every_model_gives_the_same_logits_and_gradients_in_channels_last(kind):
    """Training lays out weights and images channels_last (qpconv.replication.training): the same model, up to rounding."""
    torch.manual_seed(3)
    model = build_model("cifar10", kind, n_layers=2 if POINTWISE_BLOCKS[kind].has_circuits else None).eval()
    images = torch.randn(3, 3, 32, 32)
    logits = model(images)
    logits.square().sum().backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.to(memory_format=torch.channels_last)
    laid_out = model(images.contiguous(memory_format=torch.channels_last))
    laid_out.square().sum().backward()
    torch.testing.assert_close(laid_out, logits, rtol=1e-5, atol=1e-5)
    for name, p in model.named_parameters():
        if name in gradients:  # float32: the two layouts sum in different orders
            torch.testing.assert_close(p.grad, gradients[name], rtol=1e-3, atol=1e-4, msg=name)


def test_control_block_sizes_are_those_the_chapter_states():
    sizes = {kind: parameter_summary(build_model("cifar10", kind, n_layers=3 if b.has_circuits else None).pointwise)
             for kind, b in POINTWISE_BLOCKS.items()}  # fmt: skip
    assert sizes["quantum"]["total"] == 38_746 and sizes["classical"]["total"] == 53_760
    assert abs(sizes["classical-matched"]["total"] / sizes["quantum"]["total"] - 1) <= 0.10
    assert sizes["frozen"] == {"total": 36_928, "quantum": 0, "classical": 36_928, "frozen": 1_818}
    assert sizes["product"]["total"] == sizes["quantum"]["total"] and sizes["none"]["total"] == 0
    assert sizes["normalised-quadratic"]["total"] == 2 * 48 * (128 + 64) + 36_928
