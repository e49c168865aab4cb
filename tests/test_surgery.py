"""swap_pointwise on torchvision models: what it swaps, what it refuses, and that the result trains and reloads."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qpconv import BiasedQuantumPointwiseConv2d, QuantumPointwiseConv2d, SkipReason, swap_pointwise

torchvision = pytest.importorskip("torchvision")

EARLY_MOBILENET = ("features.1.", "features.2.")
"""The first two inverted-residual blocks of MobileNetV2: three small 1x1 convs (32->16, 16->96, 96->24)."""


def plain_pointwise(model: nn.Module) -> dict[str, nn.Conv2d]:
    """The model's 1x1, stride-1, undilated, ungrouped, unpadded convs, found independently of qpconv."""
    return {
        name: m
        for name, m in model.named_modules()
        if type(m) is nn.Conv2d
        and m.kernel_size == (1, 1)
        and m.stride == (1, 1)
        and m.dilation == (1, 1)
        and m.groups == 1
        and m.padding == (0, 0)
    }


def quantum_params(in_channels: int, out_channels: int, n_layers: int) -> int:
    n_qubits = max(1, math.ceil(math.log2(in_channels)))
    return math.ceil(out_channels / n_qubits) * n_layers * n_qubits * 3


def early_blocks(name: str, module: nn.Module) -> bool:
    return name.startswith(EARLY_MOBILENET)


def test_default_swap_of_mobilenet_v2_counts_every_pointwise_conv_and_skips_the_others():
    model = torchvision.models.mobilenet_v2(weights=None)
    expected = plain_pointwise(model)
    other_convs = sum(isinstance(m, nn.Conv2d) for m in model.modules()) - len(expected)
    report = swap_pointwise(model, n_layers=2)
    assert [layer.name for layer in report.swapped] == list(expected)
    assert len(report.swapped) == 34
    assert report.params_before == sum(conv.weight.numel() for conv in expected.values())
    assert report.params_after == sum(quantum_params(c.in_channels, c.out_channels, 2) for c in expected.values())
    assert report.skipped_by_reason() == {SkipReason.KERNEL: other_convs}
    assert all(isinstance(model.get_submodule(name), QuantumPointwiseConv2d) for name in expected)
    assert all(layer.batchnorm is not None and not layer.batchnorm_dropped for layer in report.swapped)
    assert f"34 swapped: {report.params_before} parameters -> {report.params_after}; {other_convs} skipped" in str(report)
    assert len(report.to_rows()) == 34 and report.to_rows()[0]["name"] == "features.1.conv.1"


def test_swapped_mobilenet_v2_runs_backward_and_reloads_its_state_dict():
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=10)
    report = swap_pointwise(model, select=early_blocks, n_layers=1)
    assert [layer.name for layer in report.swapped] == ["features.1.conv.1", "features.2.conv.0.0", "features.2.conv.2"]
    assert [layer.batchnorm for layer in report.swapped] == ["features.1.conv.2", "features.2.conv.0.1", "features.2.conv.3"]
    assert report.skipped_by_reason() == {SkipReason.KERNEL: 2}  # the two depthwise 3x3 convs
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    out = model(x)
    assert out.shape == (2, 10)
    out.square().sum().backward()
    for layer in report.swapped:
        grad = model.get_submodule(layer.name).weights.grad
        assert grad is not None and grad.abs().sum() > 0, layer.name

    torch.manual_seed(1)
    copy = torchvision.models.mobilenet_v2(weights=None, num_classes=10)
    swap_pointwise(copy, select=[layer.name for layer in report.swapped], n_layers=1)
    copy.load_state_dict(model.state_dict())
    copy.eval()
    with torch.no_grad():
        assert torch.equal(copy(x), model(x))


def test_a_swapped_mobilenet_v2_trains_under_autocast_with_its_circuits_in_float32():
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=10)
    report = swap_pointwise(model, select=early_blocks, n_layers=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(torch.randn(2, 3, 32, 32))
    logits.float().logsumexp(dim=1).mean().backward()
    for layer in report.swapped:
        grad = model.get_submodule(layer.name).weights.grad
        assert grad is not None and grad.dtype == torch.float32 and torch.isfinite(grad).all(), layer.name


@pytest.fixture(scope="module")
def resnet50() -> nn.Module:
    """One ResNet-50 for the tests that leave it unchanged."""
    return torchvision.models.resnet50(weights=None)


def test_resnet18_strided_downsamples_are_skipped_by_default_and_refused_by_name():
    model = torchvision.models.resnet18(weights=None)
    report = swap_pointwise(model)
    assert report.swapped == ()
    assert [(conv.name, conv.reason) for conv in report.skipped if conv.reason is SkipReason.STRIDE] == [
        (f"layer{i}.0.downsample.0", SkipReason.STRIDE) for i in (2, 3, 4)
    ]
    with pytest.raises(ValueError, match=r"^cannot swap 'layer2\.0\.downsample\.0': stride \(2, 2\) is not 1$"):
        swap_pointwise(model, select=["layer2.0.downsample.0"])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("conv1", r"cannot swap 'conv1': kernel size \(7, 7\) is not 1x1"),
        ("layer1", r"cannot swap 'layer1': it is a Sequential, not an nn\.Conv2d"),
        ("layer1.9.conv1", r"cannot swap 'layer1\.9\.conv1': the model has no such submodule"),
        ("", r"cannot swap '': the model has no such submodule"),
    ],
)
def test_a_named_module_that_cannot_be_swapped_is_refused_before_anything_changes(resnet50, name, message):
    model = resnet50
    with pytest.raises(ValueError, match=f"^{message}$"):
        swap_pointwise(model, select=["layer1.0.conv1", name])
    assert type(model.layer1[0].conv1) is nn.Conv2d


def test_other_modules_refused_by_name_report_their_reason():
    model = nn.Sequential(
        nn.Conv2d(8, 8, 1, groups=2), nn.Conv2d(8, 8, 1, dilation=2), nn.Conv2d(8, 8, 1, padding=1), nn.Conv2d(8, 8, 1)
    )
    for index, message in enumerate(["groups 2 is not 1", r"dilation \(2, 2\) is not 1", r"padding \(1, 1\) is not 0"]):
        with pytest.raises(ValueError, match=f"^cannot swap '{index}': {message}$"):
            swap_pointwise(model, select=[str(index)])
    report = swap_pointwise(model)
    assert [layer.name for layer in report.swapped] == ["3"]
    assert [conv.reason for conv in report.skipped] == [SkipReason.GROUPS, SkipReason.DILATION, SkipReason.PADDING]


def test_bad_selection_and_layer_arguments_are_refused():
    model = nn.Sequential(nn.Conv2d(8, 4, 1))
    with pytest.raises(ValueError, match=r"^select must be .* got str '0'; put a single name in a list$"):
        swap_pointwise(model, select="0")
    with pytest.raises(ValueError, match=r"^dtype is taken from each replaced conv; do not pass dtype=$"):
        swap_pointwise(model, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^n_layers must be a positive integer, got 0$"):
        swap_pointwise(model, n_layers=0)
    assert type(model[0]) is nn.Conv2d


def test_resnet50_bottleneck_pointwise_convs_train_and_their_batchnorms_can_be_dropped():
    model = torchvision.models.resnet50(weights=None, num_classes=10)
    expected = plain_pointwise(model)
    assert "layer1.0.downsample.0" in expected and "layer2.0.downsample.0" not in expected
    counted = swap_pointwise(torchvision.models.resnet50(weights=None, num_classes=10))
    assert [layer.name for layer in counted.swapped] == list(expected)
    assert counted.params_before == sum(conv.weight.numel() for conv in expected.values())
    assert counted.params_after == sum(quantum_params(c.in_channels, c.out_channels, 3) for c in expected.values())
    assert counted.skipped_by_reason() == {SkipReason.KERNEL: 17, SkipReason.STRIDE: 3}

    report = swap_pointwise(model, select=["layer1.0.conv1", "layer1.0.conv3"], n_layers=1, drop_batchnorm=True)
    assert [(layer.batchnorm, layer.batchnorm_dropped) for layer in report.swapped] == [
        ("layer1.0.bn1", True),
        ("layer1.0.bn3", True),
    ]
    block = model.layer1[0]
    assert isinstance(block.bn1, nn.Identity) and isinstance(block.bn3, nn.Identity)
    assert isinstance(block.bn2, nn.BatchNorm2d) and isinstance(block.downsample[1], nn.BatchNorm2d)
    assert (block.conv3.n_qubits, block.conv3.n_circuits) == (6, 43)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert block.conv1.weights.grad.abs().sum() > 0 and block.conv3.weights.grad.abs().sum() > 0


def test_device_and_float64_are_preserved():
    model = torchvision.models.resnet50(weights=None, num_classes=10).double()
    swap_pointwise(model, select=["layer1.0.conv1"], n_layers=1)
    layer = model.layer1[0].conv1
    assert layer.weights.dtype == torch.float64 and layer.weights.device == torch.device("cpu")
    assert model.eval()(torch.randn(1, 3, 32, 32, dtype=torch.float64)).dtype == torch.float64


def test_a_conv_bias_is_kept_as_a_learnable_add():
    conv = nn.Conv2d(8, 5, 1)
    model = nn.Sequential(nn.ReLU(), conv)
    report = swap_pointwise(model, n_layers=1)
    layer = model[1]
    assert isinstance(layer, BiasedQuantumPointwiseConv2d) and report.swapped[0].bias_kept
    assert report.swapped[0].params_after == layer.weights.numel() + 5 and report.swapped[0].batchnorm is None
    assert torch.equal(layer.bias.detach(), conv.bias.detach())
    x = torch.randn(2, 8, 3, 3)
    quantum = QuantumPointwiseConv2d(8, 5, n_layers=1)
    quantum.load_state_dict({"weights": layer.weights.detach()})
    out = layer(x)
    torch.testing.assert_close(out, quantum(x) + conv.bias.detach().view(1, 5, 1, 1))
    out.sum().backward()
    assert torch.equal(layer.bias.grad, torch.full((5,), 18.0))
