"""CIFAR-sized MobileNetV2 and bottleneck ResNet, and the choice of which 1x1 convs to swap."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qpconv import QuantumPointwiseConv2d, swap_pointwise
from qpconv.replication.architectures import (
    cheapest_pointwise,
    cifar_bottleneck_resnet,
    cifar_mobilenet_v2,
    mobilenet_projections,
    pointwise_costs,
)
from qpconv.surgery import unswappable

torchvision = pytest.importorskip("torchvision")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_cifar_mobilenet_v2_keeps_torchvision_parameters_and_maps_32x32_to_10_logits():
    model = cifar_mobilenet_v2(width_mult=0.5)
    assert n_params(model) == n_params(torchvision.models.mobilenet_v2(weights=None, num_classes=10, width_mult=0.5))
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    sizes = {cost.name: (cost.height, cost.width) for cost in pointwise_costs(model)}
    assert sizes["features.1.conv.1"] == (32, 32) and sizes["features.3.conv.2"] == (32, 32)
    assert sizes["features.17.conv.2"] == (4, 4) and sizes["features.18.0"] == (4, 4)


def test_cifar_bottleneck_resnet_has_a_3x3_stem_and_maps_32x32_to_10_logits():
    model = cifar_bottleneck_resnet((1, 1, 1, 1))
    reference = torchvision.models.ResNet(torchvision.models.resnet.Bottleneck, [1, 1, 1, 1], num_classes=10)
    assert n_params(model) == n_params(reference) - 3 * 64 * 7 * 7 + 3 * 64 * 3 * 3
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    sizes = {cost.name: (cost.height, cost.width) for cost in pointwise_costs(model)}
    assert sizes["layer1.0.conv1"] == (32, 32) and sizes["layer4.0.conv3"] == (4, 4)


def test_the_chosen_convs_are_swappable_and_the_cheapest():
    model = cifar_mobilenet_v2(width_mult=0.5)
    costs = pointwise_costs(model, batch=8, n_layers=1)
    assert [cost.name for cost in costs] == [
        name for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and unswappable(m) is None
    ]
    chosen = cheapest_pointwise(costs, 3, where=lambda cost: cost.in_channels >= 64)
    budget = sorted(cost.quantum_flops for cost in costs if cost.in_channels >= 64)[2]
    assert len(chosen) == 3 and all(cost.quantum_flops <= budget for cost in costs if cost.name in chosen)
    projections = mobilenet_projections(model, 2)
    assert projections == ["features.16.conv.2", "features.17.conv.2"]
    report = swap_pointwise(model, select=projections, n_layers=1)
    assert len(report.swapped) == 2 and isinstance(model.features[17].conv[2], QuantumPointwiseConv2d)
    assert model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_bad_counts_are_refused():
    model = cifar_mobilenet_v2(width_mult=0.5)
    with pytest.raises(
        ValueError, match=r"^last must be an integer in 0\.\.17 \(the model's inverted-residual blocks\), got 18$"
    ):
        mobilenet_projections(model, 18)
    with pytest.raises(ValueError, match=r"^k must be a non-negative integer, got -1$"):
        cheapest_pointwise([], -1)
