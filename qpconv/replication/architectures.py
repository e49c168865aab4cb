"""Standard CNNs sized for CIFAR (32x32), which of their 1x1 convolutions to make quantum, and what that costs.

Book: Beyond the paper's CNN.

For the experiment ``architectures``, which puts :class:`qpconv.layers.QuantumPointwiseConv2d`
into standard networks through :func:`qpconv.surgery.swap_pointwise`:

* :func:`cifar_mobilenet_v2`: torchvision's MobileNetV2 with the stem at stride 1 and the
  first strided stage (24 channels) at stride 1, so that a 32x32 image reaches the last
  stages at 4x4 instead of 1x1 (the usual CIFAR adaptation); the width multiplier is a
  parameter.
* :func:`cifar_bottleneck_resnet`: a CIFAR ResNet of torchvision's ``Bottleneck`` blocks
  (3x3 stem, stages at 32, 16 and 8 pixels a side).
* :data:`NETWORKS`: the experiment's four models, each network classical and with its
  cheapest 1x1 convs of at least :data:`SWAP_MIN_IN_CHANNELS` inputs made quantum
  (:func:`build_network`).
* :func:`pointwise_costs` measures each plain 1x1 conv's map size on a dummy image and
  models the cost of a quantum layer in its place (the FLOP model of :mod:`qpconv.surgery`);
  :func:`cheapest_pointwise` picks the ``k`` cheapest, :func:`mobilenet_projections` the
  projection 1x1s of the last ``k`` inverted-residual blocks.
* :func:`time_pointwise` and :func:`cost_split` measure: each 1x1's shape as a classical
  and a quantum layer, and how a network's training step splits between its simulated
  circuits and the rest.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .._optional import import_optional
from ..bench import best_time, forward_backward
from ..encoding import qubits_for_channels
from ..layers import QuantumPointwiseConv2d
from ..pixelwise import check_channels
from ..registry import lookup
from ..surgery import circuit_column_flops, classical_pixel_flops, quantum_pixel_flops, swap_pointwise, unswappable
from .datasets import get_dataset_spec

__all__ = [
    "MOBILENET_SWAPPED",
    "MOBILENET_WIDTH",
    "NETWORKS",
    "RESNET_BLOCKS",
    "RESNET_PLANES",
    "RESNET_SWAPPED",
    "SWAP_MIN_IN_CHANNELS",
    "CostSplit",
    "Network",
    "PointwiseCost",
    "PointwiseTiming",
    "build_network",
    "cheapest_pointwise",
    "cifar_bottleneck_resnet",
    "cifar_mobilenet_v2",
    "cost_split",
    "mobilenet_projections",
    "pointwise_costs",
    "time_pointwise",
]

models = import_optional("torchvision.models", extra="replication", feature="qpconv.replication.architectures")

RESNET_BLOCKS = (1, 1, 1)
"""Bottleneck blocks per stage of the experiments' ResNet (an 11-layer bottleneck ResNet)."""
RESNET_PLANES = (16, 32, 64)
"""Bottleneck widths of the experiments' ResNet's stages, those of He et al.'s CIFAR ResNets."""
MOBILENET_WIDTH = 0.25
"""Width multiplier of the experiments' MobileNetV2, chosen so that the quick run's estimate of a full run of its
quantum twin was about 2 CPU hours (the recorded runs' seconds per epoch are in chapter 14's results table)."""
SWAP_MIN_IN_CHANNELS = 64
"""The quantum-swapped networks make quantum the 1x1 convs with at least this many inputs (6 qubits) that cost least."""
MOBILENET_SWAPPED = 2
"""Number of MobileNetV2 1x1 convs made quantum (they are ``features.8.conv.2`` and ``features.9.conv.2``, 96 -> 16 at 8x8)."""
RESNET_SWAPPED = 1
"""Number of ResNet 1x1 convs made quantum (it is ``layer3.0.conv3``, 64 -> 256 at 8x8)."""


def cifar_mobilenet_v2(num_classes: int = 10, width_mult: float = 1.0) -> nn.Module:
    """MobileNetV2 for 32x32 inputs (torchvision's, randomly initialised).

    Changes to torchvision's ``mobilenet_v2``: the stem conv has stride 1 (not 2) and the
    second stage (``t=6, c=24, n=2``) stride 1 (not 2), so the feature maps are
    32, 32, 16, 8, 8, 4, 4 in the seven stages for a 32x32 image. Parameters are those of
    torchvision's model with the same ``num_classes`` and ``width_mult`` (strides have none).

    Args:
        num_classes: outputs of the classifier.
        width_mult: torchvision's width multiplier (channels scaled, rounded to multiples of 8).

    Returns:
        The model: ``(N, 3, 32, 32)`` -> ``(N, num_classes)``.

    Example::

        >>> cifar_mobilenet_v2(width_mult=0.5).eval()(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """
    setting = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
    model = models.mobilenet_v2(weights=None, num_classes=num_classes, width_mult=width_mult, inverted_residual_setting=setting)
    model.features[0][0].stride = (1, 1)
    return model


def cifar_bottleneck_resnet(
    blocks: tuple[int, ...] = RESNET_BLOCKS, planes: tuple[int, ...] = RESNET_PLANES, num_classes: int = 10
) -> nn.Sequential:
    """A CIFAR bottleneck ResNet (He et al. 2016, Sec. 4.2 widths) of torchvision's ``Bottleneck`` blocks.

    ``stem`` (3x3 conv to ``planes[0]`` channels, BN, ReLU), then one stage per entry of
    ``blocks``: ``layer1``, ``layer2``, ... of torchvision ``Bottleneck(inplanes, planes[i])``
    blocks (1x1 reduce ``conv1``, 3x3 ``conv2``, 1x1 expand ``conv3`` to ``4 * planes[i]``;
    each stage but the first halves the map in its first block's ``conv2`` and a strided 1x1
    ``downsample``), then ``head`` (global average pool, linear). With the defaults the
    three stages see 32, 16 and 8 pixels a side and end with 64, 128 and 256 channels.

    Args:
        blocks: bottleneck blocks per stage.
        planes: the stages' bottleneck widths (their outputs are four times as wide).
        num_classes: outputs of the classifier.

    Returns:
        The model: ``(N, 3, 32, 32)`` -> ``(N, num_classes)``, with children ``stem``,
        ``layer1`` ... and ``head``, so that its convs have names like ``layer3.0.conv1``.

    Raises:
        ValueError: ``blocks`` and ``planes`` differ in length, or hold a non-positive entry.
    """
    if len(blocks) != len(planes) or not blocks or min(*blocks, *planes) < 1:
        raise ValueError(f"blocks and planes must be equally long tuples of positive integers, got {blocks} and {planes}")
    stages: dict[str, nn.Module] = {
        "stem": nn.Sequential(nn.Conv2d(3, planes[0], 3, padding=1, bias=False), nn.BatchNorm2d(planes[0]), nn.ReLU(inplace=True))
    }
    width = planes[0]
    bottleneck = models.resnet.Bottleneck
    for stage, (count, plane) in enumerate(zip(blocks, planes, strict=True)):
        layers = []
        for index in range(count):
            stride = 2 if stage > 0 and index == 0 else 1
            out = plane * bottleneck.expansion
            downsample = None
            if stride != 1 or width != out:
                downsample = nn.Sequential(nn.Conv2d(width, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
            layers.append(bottleneck(width, plane, stride, downsample))
            width = out
        stages[f"layer{stage + 1}"] = nn.Sequential(*layers)
    stages["head"] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
    return nn.Sequential(OrderedDict(stages))


@dataclass(frozen=True)
class PointwiseCost:
    """A plain 1x1 conv of a model and the modelled forward cost of a quantum layer in its place.

    Attributes:
        name: qualified name.
        in_channels, out_channels: the conv's.
        height, width: its output map for the probed image size.
        quantum_flops: ``batch * height * width * quantum_pixel_flops + circuit_column_flops``
            (:mod:`qpconv.surgery`) for the probed batch and ``n_layers``.
        classical_flops: the conv's, ``batch * height * width * 2 * C_in * C_out``.
    """

    name: str
    in_channels: int
    out_channels: int
    height: int
    width: int
    quantum_flops: int
    classical_flops: int


def pointwise_costs(model: nn.Module, image_size: int = 32, batch: int = 128, n_layers: int = 3) -> list[PointwiseCost]:
    """Every plain 1x1 conv of ``model`` (what :func:`qpconv.surgery.swap_pointwise` can swap) with its modelled cost.

    The map sizes are measured by one forward pass of a zero image ``(1, 3, image_size,
    image_size)`` in eval mode (the model's mode is restored afterwards).

    Args:
        model: an image model taking 3-channel input.
        image_size: side of the probed image.
        batch: images per batch, for the costs.
        n_layers: circuit blocks of the quantum layers, for the costs.

    Returns:
        One :class:`PointwiseCost` per plain 1x1 conv, in model order.
    """
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and unswappable(m) is None}
    sizes: dict[str, tuple[int, int]] = {}

    def recorder(name: str) -> Callable[[nn.Module, object, torch.Tensor], None]:
        def record(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            sizes.setdefault(name, (output.shape[-2], output.shape[-1]))

        return record

    hooks = [conv.register_forward_hook(recorder(name)) for name, conv in convs.items()]
    training = model.training
    try:
        with torch.no_grad():
            parameter = next(model.parameters())
            model.eval()(torch.zeros(1, 3, image_size, image_size, dtype=parameter.dtype, device=parameter.device))
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    costs = []
    for name, conv in convs.items():
        height, width = sizes[name]
        pixels = batch * height * width
        n_qubits = qubits_for_channels(conv.in_channels)
        n_circuits = math.ceil(conv.out_channels / n_qubits)
        quantum = pixels * quantum_pixel_flops(conv.in_channels, n_qubits, n_circuits) + circuit_column_flops(
            conv.in_channels, n_qubits, n_circuits, n_layers
        )
        classical = pixels * classical_pixel_flops(conv.in_channels, conv.out_channels)
        costs.append(PointwiseCost(name, conv.in_channels, conv.out_channels, height, width, quantum, classical))
    return costs


def cheapest_pointwise(costs: list[PointwiseCost], k: int, where: Callable[[PointwiseCost], bool] | None = None) -> list[str]:
    """Names of the ``k`` plain 1x1 convs with the smallest modelled quantum cost, in model order.

    Args:
        costs: from :func:`pointwise_costs`.
        k: how many (fewer if fewer qualify).
        where: only convs it accepts, e.g. ``lambda c: c.in_channels >= 64``.

    Raises:
        ValueError: ``k`` is not a non-negative integer.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    eligible = [cost for cost in costs if where is None or where(cost)]
    chosen = {cost.name for cost in sorted(eligible, key=lambda cost: cost.quantum_flops)[:k]}
    return [cost.name for cost in costs if cost.name in chosen]


def mobilenet_projections(model: nn.Module, last: int) -> list[str]:
    """Names of the projection 1x1 convs (the linear bottleneck) of the last ``last`` inverted-residual blocks.

    Works on torchvision's MobileNetV2 (and :func:`cifar_mobilenet_v2`): in every
    ``InvertedResidual`` the projection is the last ``nn.Conv2d`` of its ``conv`` sequence.

    Raises:
        ValueError: ``last`` is not an integer in ``0..number of blocks``.
    """
    blocks = [name for name, m in model.named_modules() if isinstance(m, models.mobilenetv2.InvertedResidual)]
    if isinstance(last, bool) or not isinstance(last, int) or not 0 <= last <= len(blocks):
        raise ValueError(f"last must be an integer in 0..{len(blocks)} (the model's inverted-residual blocks), got {last!r}")
    names = []
    for block in blocks[len(blocks) - last :]:
        sequence = model.get_submodule(f"{block}.conv")
        index = max(i for i, (_, m) in enumerate(sequence.named_children()) if isinstance(m, nn.Conv2d))
        names.append(f"{block}.conv.{index}")
    return names


@dataclass(frozen=True)
class Network:
    """A standard network of the architecture experiments, classical or with some 1x1 convs made quantum.

    Attributes:
        name: registry key, the ``kind`` of :func:`build_network` (distinct from the
            pointwise blocks of :data:`~qpconv.replication.models.POINTWISE_BLOCKS`).
        description: one line, for tables.
        classical: ``num_classes -> model``, the classical network.
        swapped: ``model -> names`` of the 1x1 convs that :func:`~qpconv.surgery.swap_pointwise`
            makes quantum; ``None`` for the classical network.
    """

    name: str
    description: str
    classical: Callable[[int], nn.Module]
    swapped: Callable[[nn.Module], list[str]] | None = None

    @property
    def has_circuits(self) -> bool:
        """Whether the network holds quantum circuits (then it needs ``n_layers``)."""
        return self.swapped is not None

    def build(self, num_classes: int, n_layers: int | None) -> nn.Module:
        """The network, freshly initialised from torch's global generator, its chosen convs swapped with ``L = n_layers``.

        Raises:
            ValueError: ``n_layers`` is None for a network with circuits.
        """
        model = self.classical(num_classes)
        if self.swapped is not None:
            if n_layers is None:
                raise ValueError(f"the {self.name!r} network has circuits: n_layers must be a positive integer, got None")
            swap_pointwise(model, select=self.swapped(model), n_layers=n_layers)
        return model


def _mobilenet(num_classes: int) -> nn.Module:
    return cifar_mobilenet_v2(num_classes, width_mult=MOBILENET_WIDTH)


def _resnet(num_classes: int) -> nn.Module:
    return cifar_bottleneck_resnet(num_classes=num_classes)


def _cheapest(k: int) -> Callable[[nn.Module], list[str]]:
    """The rule of the quantum-swapped networks: the ``k`` cheapest 1x1s with at least :data:`SWAP_MIN_IN_CHANNELS` inputs."""

    def names(model: nn.Module) -> list[str]:
        return cheapest_pointwise(pointwise_costs(model), k, where=lambda cost: cost.in_channels >= SWAP_MIN_IN_CHANNELS)

    return names


_MOBILENET = f"MobileNetV2 x{MOBILENET_WIDTH} for 32x32 inputs"
_RESNET = f"bottleneck ResNet, stages {RESNET_BLOCKS} of widths {RESNET_PLANES}"
_SWAPPED = f"1x1(s) with at least {SWAP_MIN_IN_CHANNELS} inputs made quantum"
NETWORKS: dict[str, Network] = {
    network.name: network
    for network in (
        Network("mobilenetv2-classical", _MOBILENET, _mobilenet),
        Network(
            "mobilenetv2-quantum",
            f"{_MOBILENET}, its {MOBILENET_SWAPPED} cheapest {_SWAPPED}",
            _mobilenet,
            _cheapest(MOBILENET_SWAPPED),
        ),
        Network("resnet-classical", _RESNET, _resnet),
        Network("resnet-quantum", f"{_RESNET}, its {RESNET_SWAPPED} cheapest {_SWAPPED}", _resnet, _cheapest(RESNET_SWAPPED)),
    )
}
"""The networks of "Beyond the paper's CNN" by name, each classical one and its quantum-swapped twin."""


def build_network(dataset: str, kind: str, n_layers: int | None = 3) -> nn.Module:
    """The network ``kind`` of :data:`NETWORKS` for ``dataset``.

    Args:
        dataset: a dataset of 3-channel 32x32 images (``"cifar10"``).
        kind: a network of :data:`NETWORKS`.
        n_layers: ``L`` of the swapped quantum layers; used only by networks with circuits.

    Returns:
        ``(N, 3, 32, 32)`` -> ``(N, n_classes)`` logits.

    Raises:
        ValueError: unknown ``kind``, a dataset of other images, or ``n_layers`` missing
            for a network with circuits.
    """
    spec = get_dataset_spec(dataset)
    network = lookup(NETWORKS, kind, "network")
    if (spec.channels, spec.image_size) != (3, 32):
        raise ValueError(
            f"the {kind!r} network takes 3-channel 32x32 images; {dataset} has {spec.channels}-channel "
            f"{spec.image_size}x{spec.image_size} ones"
        )
    return network.build(spec.n_classes, n_layers if network.has_circuits else None)


@dataclass(frozen=True)
class PointwiseTiming:
    """Measured forward+backward time of a plain 1x1 conv's shape, classical and quantum.

    Attributes:
        name: the conv's qualified name.
        in_channels, out_channels: its channels; ``n_qubits`` and ``n_circuits`` of the quantum
            layer in its place.
        pixels: ``batch * height * width`` of the timed input.
        classical_seconds: a fresh ``nn.Conv2d(C_in, C_out, 1)`` on that input, best of the repeats.
        quantum_seconds: a fresh ``QuantumPointwiseConv2d(C_in, C_out, n_layers=L)`` on it.
    """

    name: str
    in_channels: int
    out_channels: int
    n_qubits: int
    n_circuits: int
    pixels: int
    classical_seconds: float
    quantum_seconds: float


def time_pointwise(costs: list[PointwiseCost], batch: int = 16, n_layers: int = 3, repeats: int = 3) -> list[PointwiseTiming]:
    """Time each conv of ``costs`` (from :func:`pointwise_costs`) as a classical 1x1 and as a quantum layer.

    Each timing is forward+backward (gradients w.r.t. the input and the weights) of a freshly
    built layer on a random float32 input ``(batch, C_in, height, width)`` on the CPU, in
    this process's torch threads, best of ``repeats`` (:func:`qpconv.bench.best_time`).

    Raises:
        ValueError: ``batch`` or ``repeats`` not a positive integer.
    """
    check_channels(batch=batch, repeats=repeats)
    timings = []
    for cost in costs:
        x = torch.randn(batch, cost.in_channels, cost.height, cost.width, requires_grad=True)
        classical = nn.Conv2d(cost.in_channels, cost.out_channels, 1)
        quantum = QuantumPointwiseConv2d(cost.in_channels, cost.out_channels, n_layers=n_layers)
        timings.append(
            PointwiseTiming(
                cost.name,
                cost.in_channels,
                cost.out_channels,
                quantum.n_qubits,
                quantum.n_circuits,
                batch * cost.height * cost.width,
                best_time(forward_backward(classical, x), repeats),
                best_time(forward_backward(quantum, x), repeats),
            )
        )
    return timings


@dataclass(frozen=True)
class CostSplit:
    """Where a network's training step spends its time: in the simulated circuits, or the rest.

    Attributes:
        step_seconds: forward+backward of the whole network on a batch (train mode).
        circuit_seconds: forward+backward of its quantum layers alone, each on an input of
            the shape it receives in that step.
    """

    step_seconds: float
    circuit_seconds: float

    @property
    def circuit_share(self) -> float:
        """``circuit_seconds / step_seconds`` (timed apart, so a small excess over 1 is noise)."""
        return self.circuit_seconds / self.step_seconds


def cost_split(model: nn.Module, batch: int = 128, image_size: int = 32, repeats: int = 3) -> CostSplit:
    """Measure :class:`CostSplit` of ``model`` (3-channel images) on a random batch, on the CPU.

    The quantum layers' input shapes are recorded by one forward pass; each is then timed alone
    (:func:`qpconv.bench.best_time`). The model's mode is restored afterwards.

    Raises:
        ValueError: ``batch`` or ``repeats`` not a positive integer.
    """
    check_channels(batch=batch, repeats=repeats)
    layers = [m for m in model.modules() if isinstance(m, QuantumPointwiseConv2d)]
    shapes: dict[int, torch.Size] = {}

    def recorder(index: int) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def record(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
            shapes.setdefault(index, inputs[0].shape)

        return record

    hooks = [layer.register_forward_hook(recorder(i)) for i, layer in enumerate(layers)]
    images = torch.randn(batch, 3, image_size, image_size)
    training = model.training
    try:
        model.train()
        step = best_time(forward_backward(model, images), repeats)
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    circuits = sum(
        best_time(forward_backward(layer, torch.randn(shapes[i], requires_grad=True)), repeats) for i, layer in enumerate(layers)
    )
    return CostSplit(step, circuits)
