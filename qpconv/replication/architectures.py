"""Standard CNNs sized for CIFAR (32x32), and which of their 1x1 convolutions to make quantum.

For the experiments that put :class:`qpconv.layers.QuantumPointwiseConv2d` into
standard architectures through :func:`qpconv.surgery.swap_pointwise`:

* :func:`cifar_mobilenet_v2`: torchvision's MobileNetV2 with the stem at stride 1 and the
  first strided stage (24 channels) at stride 1, so that a 32x32 image reaches the last
  stages at 4x4 instead of 1x1 (the usual CIFAR adaptation); the width multiplier is a
  parameter.
* :func:`cifar_bottleneck_resnet`: torchvision's ``ResNet(Bottleneck, blocks)`` with a
  3x3 stride-1 stem and no max-pool (maps 32, 16, 8, 4 in the four stages).
* :func:`pointwise_costs` measures each plain 1x1 conv's map size on a dummy image and
  models the cost of a quantum layer in its place (the FLOP model of :mod:`qpconv.surgery`);
  :func:`cheapest_pointwise` picks the ``k`` cheapest, :func:`mobilenet_projections` the
  projection 1x1s of the last ``k`` inverted-residual blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .._optional import import_optional
from ..surgery import circuit_column_flops, classical_pixel_flops, quantum_pixel_flops, unswappable

__all__ = [
    "PointwiseCost",
    "cheapest_pointwise",
    "cifar_bottleneck_resnet",
    "cifar_mobilenet_v2",
    "mobilenet_projections",
    "pointwise_costs",
]

models = import_optional("torchvision.models", extra="replication", feature="qpconv.replication.architectures")


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


def cifar_bottleneck_resnet(blocks: tuple[int, int, int, int] = (2, 2, 2, 2), num_classes: int = 10) -> nn.Module:
    """A bottleneck ResNet for 32x32 inputs: torchvision's ``ResNet(Bottleneck, blocks)``, CIFAR stem.

    The 7x7 stride-2 stem and the max-pool are replaced by a 3x3 stride-1 conv (64 channels,
    no bias, as torchvision's) and nothing, so the four stages see 32, 16, 8 and 4 pixels a side.
    ``blocks=(2, 2, 2, 2)`` is a 26-layer bottleneck ResNet; ``(3, 4, 6, 3)`` ResNet-50's stages.

    Args:
        blocks: bottleneck blocks per stage.
        num_classes: outputs of the classifier.

    Returns:
        The model: ``(N, 3, 32, 32)`` -> ``(N, num_classes)``.
    """
    model = models.ResNet(models.resnet.Bottleneck, list(blocks), num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


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
        n_qubits = max(1, (conv.in_channels - 1).bit_length())
        n_circuits = -(-conv.out_channels // n_qubits)
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
