"""Block diagrams of the hybrid and classical models (the paper's Fig. 3).

Book: chapter 7, Hybrid models (section "The paper's Fig. 3, drawn from the modules").

The diagram is generated from a model object, not drawn by hand: a forward pass on one
blank image records every layer's output shape, and every convolution, quantum layer
or linear layer starts a new box; the BatchNorm, activation, pooling or dropout that
follow it are written into the same box. Each box shows its output shape
(channels x height x width) and its number of parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import nn

from ..layers import QuantumPointwiseConv2d

__all__ = ["BOX_COLOURS", "draw_model", "figure_models", "layer_boxes"]

PARTS = ("features", "pointwise", "head")
BOX_COLOURS = {"conv": "#dbe9f6", "pointwise": "#fde2c8", "quantum": "#e6d7f3", "linear": "#dcefdc"}
"""Box fill by kind (3x3 convolution, classical 1x1, quantum 1x1, flatten/linear)."""
_SUFFIXES = {nn.BatchNorm2d: "BN", nn.ReLU: "ReLU", nn.MaxPool2d: "MaxPool 2x2"}


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _output_shapes(model: nn.Module, leaves: list[nn.Module], image_shape: tuple[int, ...]) -> dict[int, tuple[int, ...]]:
    """Output shape (without the batch) of every leaf on one blank image, keyed by ``id``."""
    shapes: dict[int, tuple[int, ...]] = {}

    def recorder(key: int) -> Callable[..., None]:
        def record(module: nn.Module, args: Any, out: torch.Tensor) -> None:
            shapes[key] = tuple(out.shape[1:])

        return record

    hooks = [leaf.register_forward_hook(recorder(id(leaf))) for leaf in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *image_shape))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return shapes


def _box(part: str, module: nn.Module) -> dict | None:
    """A new box for a convolution, quantum layer, flatten or linear layer; ``None`` for the rest."""
    if isinstance(module, QuantumPointwiseConv2d):
        label = (
            f"Quantum 1x1 conv, {module.in_channels}→{module.out_channels}\n"
            f"{module.n_qubits} qubits, {module.n_circuits} circuits, L = {module.n_layers}"
        )
        return {"part": part, "kind": "quantum", "label": label}
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0]
        return {
            "part": part,
            "kind": "pointwise" if k == 1 else "conv",
            "label": f"Conv {k}x{k}, {module.in_channels}→{module.out_channels}",
        }
    if isinstance(module, nn.Linear):
        return {"part": part, "kind": "linear", "label": f"Linear {module.in_features}→{module.out_features}"}
    if isinstance(module, nn.Flatten):
        return {"part": part, "kind": "linear", "label": "Flatten"}
    return None


def layer_boxes(model: nn.Module, image_shape: tuple[int, ...]) -> list[dict]:
    """The boxes of ``model``'s diagram, in forward order.

    Book: chapter 7, Hybrid models.

    Args:
        model: a model with ``features``, ``pointwise`` and ``head`` parts (see
            :class:`qpconv.replication.models.HybridCNN`), each an ``nn.Sequential``.
        image_shape: one input image, ``(C, H, W)``.

    Returns:
        One dict per box with ``part`` (``"features"``, ``"pointwise"``, ``"head"``),
        ``kind`` (a key of :data:`BOX_COLOURS`), ``label`` (text, the layers that follow
        appended with ``·``), ``shape`` (the box's output shape, e.g. ``"64x3x3"``) and
        ``params`` (parameters of the box's layers). The boxes' parameters add up to the model's.
    """
    leaves = [(part, module) for part in PARTS for module in getattr(model, part).children()]
    shapes = _output_shapes(model, [module for _, module in leaves], image_shape)
    boxes: list[dict] = []
    for part, module in leaves:
        box = _box(part, module)
        if box is None:  # BatchNorm, ReLU, pooling, dropout: written into the current box
            suffix = _SUFFIXES.get(type(module)) or (
                f"Dropout {module.p}" if isinstance(module, nn.Dropout) else type(module).__name__
            )
            first, _, rest = boxes[-1]["label"].partition("\n")
            boxes[-1]["label"] = f"{first} · {suffix}" + (f"\n{rest}" if rest else "")
            box = boxes[-1]
        else:
            box["params"] = 0
            boxes.append(box)
        box["shape"] = "x".join(map(str, shapes[id(module)]))
        box["params"] += _count(module)
    return boxes


def draw_model(ax: Axes, model: nn.Module, image_shape: tuple[int, ...], title: str) -> None:
    """Draw ``model`` as a column of boxes on ``ax``, bracketed by part.

    Book: chapter 7, Hybrid models.
    """
    boxes = layer_boxes(model, image_shape)
    step, height, y = 1.0, 0.72, 0.0
    ax.text(0.5, y + 0.12, "input image " + "x".join(map(str, image_shape)), ha="center", va="center", fontsize=8.5)
    spans: dict[str, tuple[float, float]] = {}
    arrow = {"arrowstyle": "-|>", "color": "0.35", "lw": 0.9}
    for box in boxes:
        y -= step
        ax.annotate(
            "", xy=(0.5, y + height / 2), xytext=(0.5, y + step - height / 2 + (0.3 if y == -step else 0)), arrowprops=arrow
        )
        ax.add_patch(
            FancyBboxPatch(
                (0.08, y - height / 2),
                0.84,
                height,
                boxstyle="round,pad=0.01,rounding_size=0.05",
                fc=BOX_COLOURS[box["kind"]],
                ec="0.3",
                lw=0.8,
            )
        )
        ax.text(0.5, y, box["label"], ha="center", va="center", fontsize=7.6)
        ax.text(0.95, y + 0.12, box["shape"], ha="left", va="center", fontsize=7, color="0.25")
        ax.text(0.95, y - 0.15, f"{box['params']:,} p.", ha="left", va="center", fontsize=6.5, color="0.45")
        low, high = spans.get(box["part"], (y, y))
        spans[box["part"]] = (min(low, y), max(high, y))
    for part, (low, high) in spans.items():
        ax.plot([0.03, 0.03], [low - height / 2, high + height / 2], color="0.3", lw=1.2)
        ax.text(0.0, (low + high) / 2, part, rotation=90, ha="right", va="center", fontsize=8.5)
    ax.text(0.5, y - 0.75, "class logits", ha="center", va="center", fontsize=8.5)
    ax.annotate("", xy=(0.5, y - 0.62), xytext=(0.5, y - height / 2), arrowprops=arrow)
    ax.set_xlim(-0.12, 1.22)
    ax.set_ylim(y - 1.0, 0.4)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()


def figure_models(models: Sequence[tuple[str, nn.Module]], image_shape: tuple[int, ...]) -> Figure:
    """Fig. 3: the diagrams of several models side by side, each with its title.

    Book: chapter 7, Hybrid models.

    Args:
        models: ``(title, model)`` pairs, drawn left to right.
        image_shape: one input image, ``(C, H, W)``.
    """
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 8.6), squeeze=False)
    for ax, (title, model) in zip(axes[0], models):
        draw_model(ax, model, image_shape, title)
    fig.tight_layout()
    return fig
