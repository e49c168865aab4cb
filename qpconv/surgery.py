"""Model surgery: put quantum pointwise convolutions in place of a model's 1x1 convolutions.

:func:`swap_pointwise` walks a model (any ``nn.Module``; torchvision's MobileNetV2 and
ResNets are the tested cases), and replaces, in place, each selected ``nn.Conv2d`` that
is a plain pointwise convolution (kernel 1x1, stride 1, dilation 1, groups 1, padding 0)
by a :class:`~qpconv.layers.QuantumPointwiseConv2d` with the same channel counts, device
and dtype. It returns a :class:`SwapReport`: what was swapped, what was skipped and why,
parameters before and after, and the FLOP model below.

Conventions:

* **Bias.** The quantum layer has none. A conv *with* a bias becomes a
  :class:`BiasedQuantumPointwiseConv2d`: the quantum layer followed by a learnable
  per-channel add, initialised with the conv's bias, so the module keeps the offset its
  model may rely on (a conv without BatchNorm after it, e.g. a classifier head). A conv
  without a bias (the torchvision convs before a BatchNorm) becomes a plain
  ``QuantumPointwiseConv2d``.
* **The BatchNorm directly after a conv** is, precisely: (a) in an ``nn.Sequential``
  (including subclasses such as torchvision's ``Conv2dNormActivation`` and the ``conv``
  sequence of ``InvertedResidual``), the next child, when it is an ``nn.BatchNorm2d``;
  (b) otherwise, for a conv held as attribute ``conv<s>`` of its parent (torchvision's
  ``BasicBlock``/``Bottleneck``: ``conv3`` then ``bn3``), the sibling ``bn<s>``, when it is
  an ``nn.BatchNorm2d``. In both cases its ``num_features`` must equal the conv's
  ``out_channels``. It is kept by default (the quantum outputs lie in ``[-1, 1]``; the
  BatchNorm rescales them as it did the conv's); ``drop_batchnorm=True`` replaces it by
  ``nn.Identity``.

FLOP model (real floating-point operations, a multiply-add counting 2), ``C = C_in``,
``K`` circuits of ``n`` qubits and ``L`` blocks, ``D = 2**n``:

* per pixel, :func:`quantum_pixel_flops`: the amplitudes ``[A; B] x``, one real matrix
  product, ``2 * C * 2KD``; the probabilities ``a**2 + b**2``, ``3 * K * D``; the signed
  sums ``<Z_i>``, ``2 * n * K * D``;
* per forward call, independent of the pixels, :func:`circuit_column_flops`: the first
  ``C`` columns of every unitary by a gate-by-gate state-vector simulation, ``n``
  single-qubit gates per block on a complex ``D x C`` block at 14 flops per amplitude
  (2 complex products, 1 complex sum), CNOTs a free permutation: ``14 * K * L * n * D * C``.
  (Up to 8 qubits :mod:`qpconv.circuits` multiplies dense Kronecker matrices instead,
  which does more arithmetic in fewer, faster operations: the model counts the work the
  circuit needs, not what the implementation spends);
* a classical 1x1 conv, :func:`classical_pixel_flops`: ``2 * C_in * C_out`` per pixel.

Example::

    >>> from torch import nn
    >>> model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.Conv2d(16, 8, 1, bias=False), nn.BatchNorm2d(8))
    >>> report = swap_pointwise(model, n_layers=2)
    >>> [(layer.name, layer.n_qubits, layer.n_circuits, layer.params_before, layer.params_after) for layer in report.swapped]
    [('2', 4, 2, 128, 48)]
    >>> type(model[2]).__name__, report.skipped[0].reason
    ('QuantumPointwiseConv2d', <SkipReason.KERNEL: 'kernel size'>)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import torch
from torch import nn

from .layers import QuantumPointwiseConv2d

__all__ = [
    "BiasedQuantumPointwiseConv2d",
    "SkipReason",
    "SkippedConv",
    "SwapReport",
    "SwappedLayer",
    "circuit_column_flops",
    "classical_pixel_flops",
    "quantum_pixel_flops",
    "swap_pointwise",
    "unswappable",
]

Selection = Callable[[str, nn.Module], bool] | Sequence[str] | None
"""What :func:`swap_pointwise` swaps: all plain 1x1 convs, a predicate, or qualified names."""


def quantum_pixel_flops(in_channels: int, n_qubits: int, n_circuits: int) -> int:
    """Forward FLOPs per pixel of the exact layer's read-out (see the module docstring).

    Example::

        >>> quantum_pixel_flops(64, 6, 11)  # the benchmark's reference layer
        190784
    """
    amplitudes = n_circuits * 2 * 2**n_qubits
    return 2 * in_channels * amplitudes + (3 + 2 * n_qubits) * n_circuits * 2**n_qubits


def circuit_column_flops(in_channels: int, n_qubits: int, n_circuits: int, n_layers: int) -> int:
    """FLOPs of one forward call's circuit columns, gate by gate (see the module docstring).

    Example::

        >>> circuit_column_flops(64, 6, 11, 3)
        11354112
    """
    return 14 * n_circuits * n_layers * n_qubits * 2**n_qubits * in_channels


def classical_pixel_flops(in_channels: int, out_channels: int) -> int:
    """FLOPs per pixel of a classical 1x1 conv, ``2 * C_in * C_out`` (its bias left out)."""
    return 2 * in_channels * out_channels


class SkipReason(Enum):
    """Why a module cannot be swapped; the value names the offending attribute."""

    NOT_CONV2D = "type"
    KERNEL = "kernel size"
    STRIDE = "stride"
    DILATION = "dilation"
    GROUPS = "groups"
    PADDING = "padding"

    def describe(self, module: nn.Module) -> str:
        """The reason in words, with the module's offending value, e.g. ``"stride (2, 2) is not 1"``."""
        if self is SkipReason.NOT_CONV2D:
            return f"it is a {type(module).__name__}, not an nn.Conv2d"
        expected = {"kernel size": "1x1", "stride": "1", "dilation": "1", "groups": "1", "padding": "0"}[self.value]
        value = getattr(module, self.value.replace(" ", "_"))
        return f"{self.value} {value} is not {expected}"


def unswappable(module: nn.Module) -> SkipReason | None:
    """Why ``module`` is not a plain 1x1 ``nn.Conv2d`` (the first failed condition), or ``None`` if it is."""
    if not isinstance(module, nn.Conv2d):
        return SkipReason.NOT_CONV2D
    checks = (
        (SkipReason.KERNEL, module.kernel_size == (1, 1)),
        (SkipReason.STRIDE, module.stride == (1, 1)),
        (SkipReason.DILATION, module.dilation == (1, 1)),
        (SkipReason.GROUPS, module.groups == 1),
        (SkipReason.PADDING, module.padding in ((0, 0), "valid", "same")),
    )
    return next((reason for reason, ok in checks if not ok), None)


class BiasedQuantumPointwiseConv2d(QuantumPointwiseConv2d):
    """A :class:`~qpconv.layers.QuantumPointwiseConv2d` followed by a learnable per-channel bias.

    What :func:`swap_pointwise` puts in place of a 1x1 conv that has a bias. Outputs are
    ``<Z_i> + bias[c]``, no longer bounded by 1.

    Args:
        *args: as for :class:`~qpconv.layers.QuantumPointwiseConv2d`.
        **kwargs: as for :class:`~qpconv.layers.QuantumPointwiseConv2d`.

    Attributes:
        bias (nn.Parameter): ``(out_channels,)``, zero-initialised, the layer's dtype and device.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bias = nn.Parameter(torch.zeros(self.out_channels, device=self.weights.device, dtype=self.weights.dtype))

    def pixel_map(self, pixels: torch.Tensor) -> torch.Tensor:
        """The quantum outputs plus the bias: ``(P, C_in)`` -> ``(P, C_out)``."""
        return super().pixel_map(pixels) + self.bias.to(pixels.dtype)


@dataclass(frozen=True)
class SwappedLayer:
    """One conv replaced by a quantum layer.

    Attributes:
        name: the conv's qualified name in the model (``"layer1.0.conv3"``).
        in_channels, out_channels: ``C_in -> C_out`` (unchanged).
        n_qubits, n_circuits, n_layers: the quantum layer.
        params_before: the conv's parameters (weight and bias).
        params_after: the quantum layer's (angles, plus the bias if kept).
        bias_kept: whether the conv had a bias, kept as a learnable add.
        batchnorm: qualified name of the BatchNorm directly after it, or ``None``.
        batchnorm_dropped: whether that BatchNorm was replaced by ``nn.Identity``.
        pixel_flops: :func:`quantum_pixel_flops` (per pixel, plus ``out_channels`` for a bias).
        circuit_flops: :func:`circuit_column_flops` (per forward call).
        classical_pixel_flops: :func:`classical_pixel_flops` of the conv it replaced.
    """

    name: str
    in_channels: int
    out_channels: int
    n_qubits: int
    n_circuits: int
    n_layers: int
    params_before: int
    params_after: int
    bias_kept: bool
    batchnorm: str | None
    batchnorm_dropped: bool
    pixel_flops: int
    circuit_flops: int
    classical_pixel_flops: int

    def flops_per_pixel(self, pixels: int) -> float:
        """Forward FLOPs per pixel for a call on ``pixels`` pixels: the circuits' share amortised over them."""
        return self.pixel_flops + self.circuit_flops / pixels


@dataclass(frozen=True)
class SkippedConv:
    """An ``nn.Conv2d`` the selection offered that is not a plain 1x1 conv (left untouched)."""

    name: str
    reason: SkipReason
    detail: str


@dataclass(frozen=True)
class SwapReport:
    """What :func:`swap_pointwise` did: one :class:`SwappedLayer` per swap, and the convs it skipped."""

    swapped: tuple[SwappedLayer, ...]
    skipped: tuple[SkippedConv, ...]

    @property
    def params_before(self) -> int:
        """Parameters of all swapped convs."""
        return sum(layer.params_before for layer in self.swapped)

    @property
    def params_after(self) -> int:
        """Parameters of all the quantum layers that replaced them."""
        return sum(layer.params_after for layer in self.swapped)

    def skipped_by_reason(self) -> dict[SkipReason, int]:
        """How many convs were skipped for each reason."""
        counts: dict[SkipReason, int] = {}
        for conv in self.skipped:
            counts[conv.reason] = counts.get(conv.reason, 0) + 1
        return counts

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per swapped layer (the :class:`SwappedLayer` fields), e.g. for ``pandas.DataFrame``."""
        return [asdict(layer) for layer in self.swapped]

    def __str__(self) -> str:
        header = (
            f"{'layer':<28} {'C_in->C_out':>12} {'qubits':>6} {'circuits':>8} {'params':>9} {'-> params':>9} "
            f"{'FLOPs/px':>10} {'classical':>10} {'circuit FLOPs':>13}  notes"
        )
        lines = [header, "-" * len(header)]
        for layer in self.swapped:
            notes = ["bias kept"] if layer.bias_kept else []
            if layer.batchnorm is not None:
                notes.append(f"{layer.batchnorm} {'dropped' if layer.batchnorm_dropped else 'kept'}")
            lines.append(
                f"{layer.name:<28} {f'{layer.in_channels}->{layer.out_channels}':>12} {layer.n_qubits:>6} "
                f"{layer.n_circuits:>8} {layer.params_before:>9} {layer.params_after:>9} {layer.pixel_flops:>10} "
                f"{layer.classical_pixel_flops:>10} {layer.circuit_flops:>13}  {', '.join(notes)}"
            )
        reasons = ", ".join(f"{count} {reason.value}" for reason, count in self.skipped_by_reason().items())
        lines += [
            "-" * len(header),
            f"{len(self.swapped)} swapped: {self.params_before} parameters -> {self.params_after}; "
            f"{len(self.skipped)} skipped" + (f" ({reasons})" if reasons else ""),
        ]
        return "\n".join(lines)


def _parent_and_key(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent_name, _, key = name.rpartition(".")
    return model.get_submodule(parent_name), key


def _batchnorm_after(model: nn.Module, name: str, conv: nn.Conv2d) -> str | None:
    """Qualified name of the BatchNorm directly after ``conv`` (see the module docstring), or ``None``."""
    parent, key = _parent_and_key(model, name)
    children = list(parent.named_children())
    if isinstance(parent, nn.Sequential):
        keys = [child_key for child_key, _ in children]
        following = keys[keys.index(key) + 1] if keys.index(key) + 1 < len(keys) else None
    else:
        match = re.fullmatch(r"conv(\w*)", key)
        following = f"bn{match.group(1)}" if match else None
    candidate = dict(children).get(following) if following is not None else None
    if isinstance(candidate, nn.BatchNorm2d) and candidate.num_features == conv.out_channels:
        return f"{name.rpartition('.')[0]}.{following}".lstrip(".")
    return None


def _candidates(model: nn.Module, select: Selection) -> tuple[list[tuple[str, nn.Conv2d]], list[SkippedConv]]:
    """The convs to swap and the ones skipped; raises before any change when a named module cannot be swapped."""
    if select is None or callable(select):
        accepts = select or (lambda _name, _module: True)
        chosen = [(n, m) for n, m in model.named_modules() if n and isinstance(m, nn.Conv2d) and accepts(n, m)]
        skipped = []
        for name, module in chosen:
            reason = unswappable(module)
            if reason is not None:
                skipped.append(SkippedConv(name, reason, reason.describe(module)))
        swappable = [(n, m) for n, m in chosen if unswappable(m) is None]
        return swappable, skipped
    if isinstance(select, str) or not isinstance(select, Sequence):
        raise ValueError(
            f"select must be None, a predicate (name, module) -> bool or a list of qualified names, "
            f"got {type(select).__name__} {select!r}" + ("; put a single name in a list" if isinstance(select, str) else "")
        )
    modules = dict(model.named_modules())
    named: list[tuple[str, nn.Conv2d]] = []
    for name in dict.fromkeys(select):
        found = modules.get(name) if name else None
        if found is None:
            raise ValueError(f"cannot swap {name!r}: the model has no such submodule")
        reason = unswappable(found)
        if reason is not None:
            raise ValueError(f"cannot swap {name!r}: {reason.describe(found)}")
        assert isinstance(found, nn.Conv2d)
        named.append((name, found))
    return named, []


def swap_pointwise(
    model: nn.Module,
    *,
    select: Selection = None,
    n_layers: int = 3,
    ansatz: str = "strongly_entangling",
    drop_batchnorm: bool = False,
    **layer_kwargs: Any,
) -> SwapReport:
    """Replace, in place, the selected plain 1x1 ``nn.Conv2d`` of ``model`` by quantum pointwise layers.

    Each replacement is a :class:`~qpconv.layers.QuantumPointwiseConv2d` (a
    :class:`BiasedQuantumPointwiseConv2d` when the conv had a bias) with the conv's
    ``in_channels``, ``out_channels``, device and dtype and freshly initialised angles.
    Everything else in the model is left as it was. Conventions (bias, "the BatchNorm
    directly after") are in the module docstring.

    Args:
        model: any module; changed in place.
        select: ``None``: every plain 1x1 conv (kernel 1x1, stride 1, dilation 1, groups 1,
            padding 0); other convs are skipped and listed in the report. A predicate
            ``(qualified_name, module) -> bool``, called on every ``nn.Conv2d``: those it accepts,
            with the same skipping. A list of qualified names (``"features.2.conv.2"``): exactly
            those, each of which must be a plain 1x1 conv.
        n_layers, ansatz: the circuits of every new layer.
        drop_batchnorm: replace the BatchNorm directly after each swapped conv by ``nn.Identity``.
        **layer_kwargs: further :class:`~qpconv.layers.QuantumPointwiseConv2d` arguments
            (``n_qubits``, ``backend``, ...), the same for every layer; not ``device`` or ``dtype``.

    Returns:
        A :class:`SwapReport` (``print(report)`` shows the table).

    Raises:
        ValueError: a named module is absent or cannot be swapped (the message names it and the
            reason), ``select`` is of another kind, ``device``/``dtype`` given, or a layer argument
            is invalid. All checks and all new layers are made before the model is changed: on an
            error it is left as it was.
    """
    for fixed in ("device", "dtype"):
        if fixed in layer_kwargs:
            raise ValueError(f"{fixed} is taken from each replaced conv; do not pass {fixed}=")
    chosen, skipped = _candidates(model, select)
    replacements: list[tuple[str, QuantumPointwiseConv2d, SwappedLayer]] = []
    for name, conv in chosen:
        kind = QuantumPointwiseConv2d if conv.bias is None else BiasedQuantumPointwiseConv2d
        layer = kind(
            conv.in_channels,
            conv.out_channels,
            n_layers,
            ansatz,
            device=conv.weight.device,
            dtype=conv.weight.dtype,
            **layer_kwargs,
        )
        if isinstance(layer, BiasedQuantumPointwiseConv2d):
            assert conv.bias is not None
            with torch.no_grad():
                layer.bias.copy_(conv.bias)
        batchnorm = _batchnorm_after(model, name, conv)
        swapped = SwappedLayer(
            name=name,
            in_channels=conv.in_channels,
            out_channels=conv.out_channels,
            n_qubits=layer.n_qubits,
            n_circuits=layer.n_circuits,
            n_layers=n_layers,
            params_before=sum(p.numel() for p in conv.parameters()),
            params_after=sum(p.numel() for p in layer.parameters()),
            bias_kept=conv.bias is not None,
            batchnorm=batchnorm,
            batchnorm_dropped=drop_batchnorm and batchnorm is not None,
            pixel_flops=quantum_pixel_flops(conv.in_channels, layer.n_qubits, layer.n_circuits)
            + (conv.out_channels if conv.bias is not None else 0),
            circuit_flops=circuit_column_flops(conv.in_channels, layer.n_qubits, layer.n_circuits, n_layers),
            classical_pixel_flops=classical_pixel_flops(conv.in_channels, conv.out_channels),
        )
        replacements.append((name, layer, swapped))
    for name, layer, swapped in replacements:
        parent, key = _parent_and_key(model, name)
        setattr(parent, key, layer)
        if swapped.batchnorm_dropped:
            assert swapped.batchnorm is not None
            bn_parent, bn_key = _parent_and_key(model, swapped.batchnorm)
            setattr(bn_parent, bn_key, nn.Identity())
    return SwapReport(tuple(swapped for _, _, swapped in replacements), tuple(skipped))
