"""The paper's hybrid CNN (Fig. 3) and its classical twin (book chapter 7, "Hybrid models").

Both kinds share a base CNN and a classification head and differ only in the
*pointwise block* between them::

    image ─ features ─ pointwise ─ head ─ 10 logits

    features   3 x [Conv3x3(pad 1, no bias) ─ BatchNorm ─ ReLU ─ MaxPool2x2], widths 32, 64, 128
    pointwise  quantum:   Q(128 -> 64) ─ Conv3x3(64 -> 64, pad 1) ─ ReLU ─ Q(64 -> 128)
               classical: Conv1x1(128 -> 64) ─ BN ─ ReLU ─ Conv3x3(64 -> 64) ─ BN ─ ReLU
                          ─ Conv1x1(64 -> 128) ─ BN ─ ReLU
    head       Flatten ─ Linear(128 * s * s -> 256) ─ ReLU ─ Dropout(0.5) ─ Linear(256 -> 10)

``Q`` is :class:`qpconv.layers.QuantumPointwiseConv2d`; ``s`` is the feature map
side after three poolings: 28 -> 14 -> 7 -> 3 for Fashion-MNIST, 32 -> 16 -> 8 -> 4
for CIFAR-10.

Choices the paper leaves open:

* **Base CNN.** The paper fixes only the pointwise block. Pooling three times keeps
  the pointwise block on 9 (Fashion-MNIST) or 16 (CIFAR-10) pixels per image, which
  makes the simulated quantum layers cheap on a CPU while the classical features
  stay those of a standard small CNN.
* **Convolutions followed by BatchNorm have no bias**: BatchNorm's shift makes it
  redundant. The 3x3 convolution inside the quantum block has no BatchNorm and
  keeps its bias.
* **No BatchNorm or activation around the quantum layers**: their outputs are
  already bounded in ``[-1, 1]``, and amplitude encoding normalises their input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ..layers import QuantumPointwiseConv2d
from ..quadratic import NormalisedLinearConv2d, NormalisedQuadraticConv2d
from ..registry import lookup
from ..relaxation import UnitaryReadoutConv2d
from .datasets import get_dataset_spec

__all__ = [
    "MODEL_KINDS",
    "POINTWISE_BLOCKS",
    "HybridCNN",
    "PointwiseBlock",
    "angle_counts",
    "build_model",
    "circuit_settings",
    "parameter_summary",
    "parameter_table",
]

FEATURE_WIDTHS = (32, 64, 128)
BOTTLENECK_WIDTH = 64
HIDDEN_UNITS = 256
MATCHED_BOTTLENECK_WIDTH = 52
"""Bottleneck width of the parameter-matched classical block: 38,112 parameters, 1.6 % below the quantum block's 38,746."""
QUADRATIC_RANK = 48
"""Rank of the normalised quadratic layers: a block of 55,360 parameters, 3 % above the classical block's 53,760."""
DROPOUT = 0.5


class HybridCNN(nn.Module):
    """Base CNN, pointwise block, classification head (the paper's Fig. 3).

    Book: chapter 7, Hybrid models.

    Args:
        features: image ``(N, C, H, W)`` -> feature map ``(N, 128, s, s)``.
        pointwise: ``(N, 128, s, s)`` -> ``(N, 128, s, s)``.
        head: ``(N, 128, s, s)`` -> logits ``(N, n_classes)``.
    """

    def __init__(self, features: nn.Module, pointwise: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.pointwise = pointwise
        self.head = head

    def forward(self, images: Tensor) -> Tensor:
        """Logits ``(N, n_classes)`` of a batch of normalised images ``(N, C, H, W)``."""
        return self.head(self.pointwise(self.features(images)))


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def _features(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in FEATURE_WIDTHS:
        layers += [*_conv_bn_relu(in_channels, width, 3), nn.MaxPool2d(2)]
        in_channels = width
    return nn.Sequential(*layers)


def _structure_matched(layer: Callable[[int, int], nn.Module]) -> nn.Sequential:
    """The paper's quantum block with each quantum layer replaced by ``layer(C_in, C_out)``."""
    width = FEATURE_WIDTHS[-1]
    return nn.Sequential(
        layer(width, BOTTLENECK_WIDTH),
        nn.Conv2d(BOTTLENECK_WIDTH, BOTTLENECK_WIDTH, 3, padding=1),
        nn.ReLU(inplace=True),
        layer(BOTTLENECK_WIDTH, width),
    )


def _quantum_pointwise(n_layers: int | None, ansatz: str) -> nn.Sequential:
    assert n_layers is not None  # checked by build_model
    return _structure_matched(lambda c_in, c_out: QuantumPointwiseConv2d(c_in, c_out, n_layers=n_layers, ansatz=ansatz))


def _product_pointwise(n_layers: int | None, ansatz: str) -> nn.Sequential:
    return _quantum_pointwise(n_layers, "product")


def _frozen_pointwise(n_layers: int | None, ansatz: str) -> nn.Sequential:
    block = _quantum_pointwise(n_layers, ansatz)
    for module in block.modules():
        if isinstance(module, QuantumPointwiseConv2d):
            module.weights.requires_grad_(False)
    return block


def _classical_pointwise(n_layers: int | None, ansatz: str, width: int = BOTTLENECK_WIDTH) -> nn.Sequential:
    outer = FEATURE_WIDTHS[-1]
    return nn.Sequential(*_conv_bn_relu(outer, width, 1), *_conv_bn_relu(width, width, 3), *_conv_bn_relu(width, outer, 1))


def _classical_matched_pointwise(n_layers: int | None, ansatz: str) -> nn.Sequential:
    return _classical_pointwise(n_layers, ansatz, width=MATCHED_BOTTLENECK_WIDTH)


def _classical_without_batchnorm(n_layers: int | None, ansatz: str) -> nn.Sequential:
    outer = FEATURE_WIDTHS[-1]
    return nn.Sequential(
        nn.Conv2d(outer, BOTTLENECK_WIDTH, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(BOTTLENECK_WIDTH, BOTTLENECK_WIDTH, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(BOTTLENECK_WIDTH, outer, 1),
        nn.ReLU(inplace=True),
    )


@dataclass(frozen=True)
class PointwiseBlock:
    """One kind of pointwise block: ``(N, 128, s, s) -> (N, 128, s, s)`` between base and head.

    Attributes:
        name: registry key, the ``kind`` of :func:`build_model`.
        description: one line, for tables and ``qpconv list``.
        build: ``(n_layers, ansatz) -> module``; ``n_layers`` is ``None`` for blocks without circuits.
        has_circuits: whether the block holds quantum circuits (then ``n_layers`` is required).
    """

    name: str
    description: str
    build: Callable[[int | None, str], nn.Module]
    has_circuits: bool


_STRUCTURE = "Conv3x3 - ReLU between two of them"
POINTWISE_BLOCKS: dict[str, PointwiseBlock] = {
    block.name: block
    for block in (
        PointwiseBlock(
            "quantum", "Q(128->64) - Conv3x3 - ReLU - Q(64->128), the paper's quantum block", _quantum_pointwise, True
        ),
        PointwiseBlock(
            "classical",
            "Conv1x1 - BN - ReLU - Conv3x3 - BN - ReLU - Conv1x1 - BN - ReLU, the paper's classical block",
            _classical_pointwise,
            False,
        ),
        PointwiseBlock(
            "linear",
            f"plain Conv1x1 (with bias, no BN or ReLU around it) in place of each Q; {_STRUCTURE}",
            lambda n_layers, ansatz: _structure_matched(lambda c_in, c_out: nn.Conv2d(c_in, c_out, 1)),
            False,
        ),
        PointwiseBlock(
            "classical-nobn",
            "Conv1x1 - ReLU - Conv3x3 - ReLU - Conv1x1 - ReLU: the paper's classical block without BatchNorm",
            _classical_without_batchnorm,
            False,
        ),
        PointwiseBlock(
            "classical-matched",
            f"the paper's classical block, bottleneck {MATCHED_BOTTLENECK_WIDTH} channels: the quantum block's parameters",
            _classical_matched_pointwise,
            False,
        ),
        PointwiseBlock(
            "normalised-linear",
            f"x / |x| then Conv1x1 (qpconv.NormalisedLinearConv2d) in place of each Q; {_STRUCTURE}",
            lambda n_layers, ansatz: _structure_matched(NormalisedLinearConv2d),
            False,
        ),
        PointwiseBlock(
            "normalised-quadratic",
            f"x^T M_c x / |x|^2 of rank {QUADRATIC_RANK} (qpconv.NormalisedQuadraticConv2d) in place of each Q; {_STRUCTURE}",
            lambda n_layers, ansatz: _structure_matched(
                lambda c_in, c_out: NormalisedQuadraticConv2d(c_in, c_out, QUADRATIC_RANK)
            ),
            False,
        ),
        PointwiseBlock(
            "unitary-relaxation",
            f"the quantum read-out of any trained unitary (qpconv.UnitaryReadoutConv2d) in place of each Q; {_STRUCTURE}",
            lambda n_layers, ansatz: _structure_matched(UnitaryReadoutConv2d),
            False,
        ),
        PointwiseBlock(
            "frozen", "the quantum block with its circuits' angles left at their random initial values", _frozen_pointwise, True
        ),
        PointwiseBlock("product", "the quantum block with product circuits (no entanglers)", _product_pointwise, True),
        PointwiseBlock(
            "none", "no pointwise block: the head reads the base's features (lower bound)", lambda n, a: nn.Identity(), False
        ),
    )
}
"""The pointwise blocks by name, the paper's two (chapter 7) and the controls of "What makes it work?"."""

MODEL_KINDS = tuple(POINTWISE_BLOCKS)


def _head(side: int, n_classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(FEATURE_WIDTHS[-1] * side * side, HIDDEN_UNITS),
        nn.ReLU(inplace=True),
        nn.Dropout(DROPOUT),
        nn.Linear(HIDDEN_UNITS, n_classes),
    )


def build_model(dataset: str, kind: str = "quantum", n_layers: int | None = 3, ansatz: str = "strongly_entangling") -> HybridCNN:
    """The Fig. 3 model for ``dataset``, with the pointwise block ``kind``.

    Book: chapter 7, Hybrid models.

    Args:
        dataset: ``"fashion-mnist"`` (input ``(N, 1, 28, 28)``) or ``"cifar10"`` (``(N, 3, 32, 32)``).
        kind: a pointwise block of :data:`POINTWISE_BLOCKS`, e.g. ``"quantum"`` or ``"classical"``.
        n_layers: ``L``, entangling blocks per circuit of the quantum layers (the Fig. 8 knob);
            used only by blocks with circuits.
        ansatz: circuit ansatz of the quantum layers (see :mod:`qpconv.circuits`); used only
            by blocks with circuits.

    Returns:
        A :class:`HybridCNN` mapping images to logits, freshly initialised from torch's
        global random generator.

    Raises:
        ValueError: unknown ``dataset`` or ``kind``, or ``n_layers``/``ansatz`` invalid
            for the quantum layer.
    """
    spec = get_dataset_spec(dataset)
    block = lookup(POINTWISE_BLOCKS, kind, "model kind")
    if block.has_circuits and n_layers is None:
        raise ValueError(f"the {kind!r} block has circuits: n_layers must be a positive integer, got None")
    pointwise = block.build(n_layers if block.has_circuits else None, ansatz)
    side = spec.image_size // 2 ** len(FEATURE_WIDTHS)
    return HybridCNN(_features(spec.channels), pointwise, _head(side, spec.n_classes))


def circuit_settings(model: nn.Module) -> dict[str, Any]:
    """The ansatz and depth of ``model``'s quantum layers, read from the built modules.

    Book: chapter 7, Hybrid models.

    Returns:
        ``{"ansatz": name, "n_layers": L}``, or both ``None`` when the model has no
        quantum layer.

    Raises:
        ValueError: the quantum layers of ``model`` differ in ansatz or depth.
    """
    settings = {(m.ansatz, m.n_layers) for m in model.modules() if isinstance(m, QuantumPointwiseConv2d)}
    if len(settings) > 1:
        raise ValueError(f"the quantum layers differ in (ansatz, n_layers): {sorted(settings)}")
    ansatz, n_layers = settings.pop() if settings else (None, None)
    return {"ansatz": ansatz, "n_layers": n_layers}


def _size(parameter: nn.Parameter) -> int:
    """Real numbers in a parameter: a complex entry counts twice."""
    return parameter.numel() * (2 if parameter.is_complex() else 1)


def _count(module: nn.Module) -> dict[str, int]:
    quantum_layers = [m for m in module.modules() if isinstance(m, QuantumPointwiseConv2d)]
    quantum = sum(_size(p) for m in quantum_layers for p in m.parameters() if p.requires_grad)
    total = sum(_size(p) for p in module.parameters() if p.requires_grad)
    frozen = sum(_size(p) for p in module.parameters() if not p.requires_grad)
    return {"total": total, "quantum": quantum, "classical": total - quantum} | ({"frozen": frozen} if frozen else {})


def parameter_summary(model: nn.Module) -> dict[str, int]:
    """Trainable-parameter counts of ``model``.

    Book: chapter 7, Hybrid models.

    Returns:
        ``{"total": ..., "quantum": ..., "classical": ...}`` of the parameters that train
        (a complex entry counts as two real numbers): quantum counts those of every
        :class:`~qpconv.layers.QuantumPointwiseConv2d` (their circuit angles), classical all others; and
        ``"frozen"``, the parameters that do not train, when there are any.
    """
    return _count(model)


def angle_counts(model: nn.Module) -> dict[str, int]:
    """Circuit angles of ``model``'s quantum layers: all of them, and those that can change an output.

    Book: chapter 7, Hybrid models (section "Parameter counts").

    Returns:
        ``{"angles": ..., "effective angles": ...}``; the difference is the last block's final
        ``R_z`` of every wire of every circuit (:meth:`~qpconv.layers.QuantumPointwiseConv2d.ineffective_angles`).
    """
    layers = [m for m in model.modules() if isinstance(m, QuantumPointwiseConv2d)]
    return {
        "angles": sum(layer.weights.numel() for layer in layers),
        "effective angles": sum(layer.n_effective_angles for layer in layers),
    }


def parameter_table(model: nn.Module) -> str:
    """A plain-text table of parameter counts per top-level block of ``model`` and in total.

    Book: chapter 7, Hybrid models.

    Example output for the Fashion-MNIST quantum model::

        block          total   quantum  classical
        features       92896         0      92896
        ...
    """
    rows = [(name, _count(child)) for name, child in model.named_children()]
    rows.append(("total", _count(model)))
    name_width = max(len("block"), *(len(name) for name, _ in rows))
    lines = [f"{'block':<{name_width}}  {'total':>9}  {'quantum':>9}  {'classical':>9}"]
    lines += [f"{name:<{name_width}}  {c['total']:>9,}  {c['quantum']:>9,}  {c['classical']:>9,}" for name, c in rows]
    return "\n".join(lines)
