"""CIFAR-sized MobileNetV2 and bottleneck ResNet, and the choice of which 1x1 convs to swap."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qpconv import QuantumPointwiseConv2d, swap_pointwise
from qpconv.replication.architectures import (
    NETWORKS,
    SWAP_MIN_IN_CHANNELS,
    build_network,
    cheapest_pointwise,
    cifar_bottleneck_resnet,
    cifar_mobilenet_v2,
    cost_split,
    mobilenet_projections,
    pointwise_costs,
    time_pointwise,
)
from qpconv.replication.experiments import get_experiment
from qpconv.replication.models import POINTWISE_BLOCKS
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


def test_cifar_bottleneck_resnet_is_he_et_al_s_cifar_layout_of_torchvision_bottlenecks():
    model = cifar_bottleneck_resnet((1, 2, 1), planes=(16, 32, 64))
    assert [name for name, _ in model.named_children()] == ["stem", "layer1", "layer2", "layer3", "head"]
    assert all(isinstance(block, torchvision.models.resnet.Bottleneck) for stage in ("layer1", "layer2", "layer3")
               for block in model.get_submodule(stage))  # fmt: skip
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    sizes = {cost.name: (cost.in_channels, cost.out_channels, cost.height) for cost in pointwise_costs(model)}
    assert sizes["layer1.0.conv1"] == (16, 16, 32) and sizes["layer3.0.conv3"] == (64, 256, 8)
    assert sizes["layer2.1.conv1"] == (128, 32, 16)  # a stride-1 block inside a stage has no downsample
    assert "layer2.0.downsample.0" not in sizes and "layer1.0.downsample.0" in sizes  # strided 1x1s are not plain
    with pytest.raises(ValueError, match=r"^blocks and planes must be equally long tuples of positive integers"):
        cifar_bottleneck_resnet((1, 1), planes=(16, 32, 64))


def test_networks_are_named_apart_from_the_pointwise_blocks_and_each_quantum_twin_swaps_only_its_chosen_convs():
    assert not set(NETWORKS) & set(POINTWISE_BLOCKS)
    for name, network in NETWORKS.items():
        torch.manual_seed(0)
        model = build_network("cifar10", name)
        quantum = [n for n, m in model.named_modules() if isinstance(m, QuantumPointwiseConv2d)]
        assert bool(quantum) == network.has_circuits
        if network.has_circuits:
            classical = network.classical(10)
            costs = [c for c in pointwise_costs(classical) if c.in_channels >= SWAP_MIN_IN_CHANNELS]
            cheapest = sorted(c.quantum_flops for c in costs)[len(quantum) - 1]
            assert all(c.quantum_flops <= cheapest for c in costs if c.name in quantum)
            assert [m.n_layers for m in model.modules() if isinstance(m, QuantumPointwiseConv2d)] == [3] * len(quantum)
        logits = model(torch.randn(2, 3, 32, 32))
        logits.sum().backward()
        assert logits.shape == (2, 10)
    assert [v.kind for v in get_experiment("architectures").variants] == list(NETWORKS)


def test_build_network_refuses_other_images_unknown_names_and_a_missing_depth():
    with pytest.raises(
        ValueError, match=r"^the 'resnet-classical' network takes 3-channel 32x32 images; fashion-mnist has 1-channel 28x28 ones$"
    ):
        build_network("fashion-mnist", "resnet-classical")
    with pytest.raises(ValueError, match=r"^unknown network 'vgg'"):
        build_network("cifar10", "vgg")
    with pytest.raises(ValueError, match=r"^the 'resnet-quantum' network has circuits: n_layers must be a positive integer"):
        build_network("cifar10", "resnet-quantum", n_layers=None)


def test_timings_and_the_cost_split_measure_what_they_say():
    costs = [c for c in pointwise_costs(cifar_bottleneck_resnet()) if c.name in ("layer1.0.conv1", "layer3.0.conv3")]
    timings = time_pointwise(costs, batch=1, n_layers=1, repeats=1)
    assert [(t.name, t.n_qubits, t.pixels) for t in timings] == [("layer1.0.conv1", 4, 32 * 32), ("layer3.0.conv3", 6, 8 * 8)]
    assert all(t.classical_seconds > 0 and t.quantum_seconds > 0 for t in timings)
    model = build_network("cifar10", "resnet-quantum", n_layers=1).eval()
    split = cost_split(model, batch=2, repeats=1)
    assert split.circuit_seconds > 0 and 0 < split.circuit_share < 2 and not model.training
    assert cost_split(build_network("cifar10", "resnet-classical"), batch=2, repeats=1).circuit_seconds == 0
    with pytest.raises(ValueError, match=r"^batch must be a positive integer, got 0$"):
        time_pointwise(costs, batch=0)
    with pytest.raises(ValueError, match=r"^repeats must be a positive integer, got 0$"):
        cost_split(model, repeats=0)


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
