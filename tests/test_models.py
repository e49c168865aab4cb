"""The Fig. 3 models: shapes, exact parameter counts (computed by hand here), errors."""

from __future__ import annotations

import pytest
import torch

from qpconv import QuantumPointwiseConv2d
from qpconv.replication.models import build_model, parameter_summary, parameter_table

# (dataset, input channels, image side, feature-map side after three 2x2 poolings)
DATASETS = [("fashion-mnist", 1, 28, 3), ("cifar10", 3, 32, 4)]


def conv_params(c_in: int, c_out: int, k: int, bias: bool) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def bn_params(channels: int) -> int:
    return 2 * channels  # weight and bias


def features_params(c_in: int) -> int:
    return (
        conv_params(c_in, 32, 3, False)
        + bn_params(32)
        + conv_params(32, 64, 3, False)
        + bn_params(64)
        + conv_params(64, 128, 3, False)
        + bn_params(128)
    )


def head_params(side: int) -> int:
    return (128 * side * side * 256 + 256) + (256 * 10 + 10)


def quantum_angles(n_layers: int) -> int:
    # Q(128 -> 64): 7 qubits, ceil(64 / 7) = 10 circuits; Q(64 -> 128): 6 qubits, ceil(128 / 6) = 22 circuits;
    # 3 angles per qubit per layer.
    return 10 * n_layers * 7 * 3 + 22 * n_layers * 6 * 3


CLASSICAL_POINTWISE = (
    conv_params(128, 64, 1, False)
    + bn_params(64)
    + conv_params(64, 64, 3, False)
    + bn_params(64)
    + conv_params(64, 128, 1, False)
    + bn_params(128)
)
QUANTUM_BLOCK_CONV = conv_params(64, 64, 3, True)


def test_quantum_angles_match_the_documented_numbers():
    assert quantum_angles(3) == 630 + 1188


@pytest.mark.parametrize("dataset, channels, size, side", DATASETS)
@pytest.mark.parametrize("kind", ["quantum", "classical"])
def test_output_and_block_shapes(dataset, channels, size, side, kind):
    torch.manual_seed(0)
    model = build_model(dataset, kind).eval()
    images = torch.randn(5, channels, size, size)
    with torch.no_grad():
        features = model.features(images)
        pointwise = model.pointwise(features)
        logits = model(images)
    assert features.shape == (5, 128, side, side)
    assert pointwise.shape == (5, 128, side, side)
    assert logits.shape == (5, 10)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("dataset, channels, size, side", DATASETS)
def test_classical_parameter_count(dataset, channels, size, side):
    summary = parameter_summary(build_model(dataset, "classical"))
    expected = features_params(channels) + CLASSICAL_POINTWISE + head_params(side)
    assert summary == {"total": expected, "quantum": 0, "classical": expected}


@pytest.mark.parametrize("dataset, channels, size, side", DATASETS)
@pytest.mark.parametrize("n_layers", [1, 2, 3, 4])
def test_quantum_parameter_count(dataset, channels, size, side, n_layers):
    summary = parameter_summary(build_model(dataset, "quantum", n_layers=n_layers))
    classical = features_params(channels) + QUANTUM_BLOCK_CONV + head_params(side)
    assert summary == {
        "total": classical + quantum_angles(n_layers),
        "quantum": quantum_angles(n_layers),
        "classical": classical,
    }


def test_quantum_block_layout_and_gradients_reach_the_circuits():
    torch.manual_seed(0)
    model = build_model("cifar10", "quantum", n_layers=2)
    first, conv, _relu, second = model.pointwise
    assert isinstance(first, QuantumPointwiseConv2d) and isinstance(second, QuantumPointwiseConv2d)
    assert (first.in_channels, first.out_channels, first.n_qubits, first.n_circuits, first.n_layers) == (128, 64, 7, 10, 2)
    assert (second.in_channels, second.out_channels, second.n_qubits, second.n_circuits) == (64, 128, 6, 22)
    assert isinstance(conv, torch.nn.Conv2d) and conv.kernel_size == (3, 3) and conv.padding == (1, 1)
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    assert first.weights.grad.abs().sum() > 0
    assert second.weights.grad.abs().sum() > 0


def test_parameter_table_lists_blocks_and_total():
    model = build_model("fashion-mnist", "quantum")
    lines = parameter_table(model).splitlines()
    angles, features, head = quantum_angles(3), features_params(1), head_params(3)
    total = features + QUANTUM_BLOCK_CONV + angles + head
    assert [line.split() for line in lines] == [
        ["block", "total", "quantum", "classical"],
        ["features", f"{features:,}", "0", f"{features:,}"],
        ["pointwise", f"{QUANTUM_BLOCK_CONV + angles:,}", f"{angles:,}", f"{QUANTUM_BLOCK_CONV:,}"],
        ["head", f"{head:,}", "0", f"{head:,}"],
        ["total", f"{total:,}", f"{angles:,}", f"{total - angles:,}"],
    ]


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'; expected one of \['fashion-mnist', 'cifar10'\]"):
        build_model("mnist")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match=r"unknown model kind 'hybrid'; expected one of \['quantum', 'classical', 'linear', "):
        build_model("cifar10", kind="hybrid")


def test_bad_depth_is_refused():
    with pytest.raises(ValueError, match="n_layers must be a positive integer, got 0"):
        build_model("cifar10", kind="quantum", n_layers=0)
