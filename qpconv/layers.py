"""``QuantumPointwiseConv2d``: the paper's quantum 1x1 convolution as a PyTorch module (book chapter 5)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ._optional import require_installed
from .circuits import circuit_columns, get_ansatz
from .encoding import check_qubit_count, qubits_for_channels
from .noise import MAX_NOISY_QUBITS, NoiseModel, noisy_forms
from .pixelwise import HALF_DTYPES, PixelwiseConv2d, check_channels
from .quadratic import quadratic_form
from .shots import check_shots, sampled_expectations
from .simulation import pauli_z_expectations

__all__ = ["BACKENDS", "QuantumPointwiseConv2d", "check_device_conditions"]

BACKENDS = ("exact", "pennylane")


def check_device_conditions(
    noise: NoiseModel | None, shots: int | None, generator: torch.Generator | None, *, backend: str, n_qubits: int
) -> None:
    """Raise ``ValueError`` unless a layer of ``backend`` on ``n_qubits`` qubits can run with ``noise`` and ``shots``.

    Args:
        noise: a :class:`~qpconv.noise.NoiseModel` or ``None``.
        shots: a positive number of runs or ``None``.
        generator: the shots' ``torch.Generator`` or ``None``.
        backend: the layer's backend; noise and shots need ``"exact"``.
        n_qubits: the layer's register; noise and shots need at most :data:`~qpconv.noise.MAX_NOISY_QUBITS`.
    """
    if noise is not None and not isinstance(noise, NoiseModel):
        raise ValueError(f"noise must be a qpconv.NoiseModel or None, got {type(noise).__name__}")
    check_shots(shots)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if backend != "exact" and (noise is not None or shots is not None):
        raise ValueError(f"noise and shots are simulated by backend='exact', not backend={backend!r}")
    if (shots is not None or (noise is not None and noise.gate_noise)) and n_qubits > MAX_NOISY_QUBITS:
        raise ValueError(f"noise and shots are simulated for at most {MAX_NOISY_QUBITS} qubits, got n_qubits={n_qubits}")


class QuantumPointwiseConv2d(PixelwiseConv2d):
    """Quantum pointwise (1x1) convolution: a drop-in for ``nn.Conv2d(C_in, C_out, kernel_size=1)``.

    Every pixel's channel vector is amplitude-encoded on ``n_qubits`` qubits
    (zero-padded to ``2**n_qubits``, normalised, wire 0 most significant), sent
    through ``n_circuits`` trained circuits ("quantum kernels") of ``n_layers``
    blocks each, and measured as ``<Z_i>`` on every wire. The circuits' weights
    are shared by all pixels, exactly as a convolution kernel is::

        circuit k:  |x>  --U_k(theta_k)--  <Z_0>, ..., <Z_{n-1}>

    Output channel ``c = k * n_qubits + i`` is ``<Z_i>`` of circuit ``k``. The
    ``n_circuits * n_qubits`` values are concatenated and the last
    ``n_circuits * n_qubits - out_channels`` of them dropped, so that exactly
    ``out_channels`` remain (``n_circuits = ceil(out_channels / n_qubits)``).
    All outputs lie in ``[-1, 1]``; an all-zero pixel gives 0 on every channel
    (see :mod:`qpconv.encoding`).

    Args:
        in_channels: ``C_in``, channels of the input.
        out_channels: ``C_out``, channels of the output.
        n_layers: ``L``, entangling blocks per circuit (the paper's Fig. 8 knob).
        ansatz: ``"strongly_entangling"`` (PennyLane's ``StronglyEntanglingLayers``) or
            ``"circuit_centric"`` (see :mod:`qpconv.circuits` for the exact gate order).
        n_qubits: register size; default ``max(1, ceil(log2(in_channels)))``. More qubits
            than needed give more outputs per circuit; at most ``qpconv.encoding.MAX_QUBITS``.
        backend: ``"exact"`` (closed-form state-vector simulation, one matrix product for
            all pixels) or ``"pennylane"`` (a QNode per circuit on ``pennylane_device``; needs
            ``pip install 'qpconv[pennylane]'``).
        pennylane_device: PennyLane device name for ``backend="pennylane"`` and :meth:`qnode`.
        diff_method: PennyLane differentiation method, e.g. ``"parameter-shift"``, ``"backprop"``.
        device, dtype: where and in which floating type the weights live (as for ``nn.Conv2d``);
            float16 and bfloat16 layers compute in float32 internally and return their own dtype.
            Under ``torch.autocast`` the layer runs in its own dtype, autocast off inside
            (see :class:`~qpconv.pixelwise.PixelwiseConv2d`).
        noise: a :class:`~qpconv.noise.NoiseModel` of a real device, simulated exactly (the
            outputs are the expectations of the noisy circuits, :mod:`qpconv.noise`); ``None``
            (default): noiseless, the exact path bit for bit. Exact backend only.
        shots: runs per pixel and circuit: the outputs are then sample means of ``shots``
            sampled bitstrings (:mod:`qpconv.shots`), in training and evaluation alike, as a
            device would give them (set ``layer.shots = None`` to evaluate the expectations).
            ``None`` (default): exact expectations. Exact backend only.
        generator: the ``torch.Generator`` of the shots' draws (on the layer's device); default
            torch's global generator.

    Gradient with ``shots``: straight-through. The forward pass returns the sample means; the
    backward pass is the exact gradient of the expectations (noisy if ``noise`` is set), the
    mean of the sample means' gradient in the limit of many shots. The sample means
    themselves are piecewise constant in the angles and inputs (zero gradient almost
    everywhere); the parameter-shift rule on hardware estimates the same exact gradient
    with shots of its own, so its noise, not this one, is what training on a device adds.

    Attributes:
        weights (nn.Parameter): ``(n_circuits, n_layers, n_qubits, p)``; ``p = 3`` for the
            strongly entangling ansatz in PennyLane's ``(phi, theta, omega)`` convention,
            ``p = 5`` for the circuit-centric one. Initialised uniformly in ``[0, 2*pi)``,
            the default of PennyLane's ``TorchLayer``.

    Shape:
        input ``(N, C_in, H, W)`` -> output ``(N, C_out, H, W)``; an empty input (``N``, ``H``
        or ``W`` zero) gives an empty output, as for ``nn.Conv2d``. A pixel's scale does not
        change its outputs, from 1e-30 to 1e30 in float32 (:func:`qpconv.encoding.unit_max_rows`).

    Example::

        >>> layer = QuantumPointwiseConv2d(64, 128, n_layers=3)
        >>> layer(torch.randn(8, 64, 7, 7)).shape
        torch.Size([8, 128, 7, 7])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_layers: int = 3,
        ansatz: str = "strongly_entangling",
        n_qubits: int | None = None,
        backend: str = "exact",
        pennylane_device: str = "default.qubit",
        diff_method: str = "best",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        noise: NoiseModel | None = None,
        shots: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels)
        check_channels(n_layers=n_layers)
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {list(BACKENDS)}")
        self._ansatz = get_ansatz(ansatz)
        if n_qubits is None:
            n_qubits = qubits_for_channels(in_channels)
        check_qubit_count(n_qubits, in_channels)
        check_device_conditions(noise, shots, generator, backend=backend, n_qubits=n_qubits)
        if backend == "pennylane":
            require_installed(("pennylane",), extra="pennylane", feature="QuantumPointwiseConv2d(backend='pennylane')")
        self.n_layers = n_layers
        self.n_qubits = n_qubits
        self.n_circuits = math.ceil(out_channels / n_qubits)
        self.ansatz = ansatz
        self.backend = backend
        self.pennylane_device = pennylane_device
        self.diff_method = diff_method
        self.noise = noise
        self.shots = shots
        self.generator = generator
        shape = (self.n_circuits, *self._ansatz.weight_shape(n_layers, n_qubits))
        self.weights = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
        self.reset_parameters()
        self._pennylane_qnode: Any = None

    def ineffective_angles(self) -> torch.Tensor:
        """Boolean mask, shaped like :attr:`weights`, of the angles that change no output.

        For the strongly entangling (and product) ansatz these are the last block's
        ``omega``: ``n_circuits * n_qubits`` of them (202 of the 1,818 angles of the
        paper's two layers at ``L = 3``). See :class:`qpconv.circuits.Ansatz`.
        """
        mask = self._ansatz.ineffective(self.n_layers, self.n_qubits).to(self.weights.device)
        return mask.expand(self.n_circuits, *mask.shape)

    @property
    def n_effective_angles(self) -> int:
        """The number of angles that can change an output (all of them but :meth:`ineffective_angles`)."""
        return self.weights.numel() - int(self.ineffective_angles().sum())

    def reset_parameters(self) -> None:
        """Draw all angles uniformly from ``[0, 2*pi)``."""
        nn.init.uniform_(self.weights, 0.0, 2 * math.pi)

    def extra_repr(self) -> str:
        noise = "" if self.noise is None else f", noise={self.noise}"
        shots = "" if self.shots is None else f", shots={self.shots}"
        return (
            f"{self.in_channels}, {self.out_channels}, n_layers={self.n_layers}, ansatz={self.ansatz!r}, "
            f"n_qubits={self.n_qubits}, n_circuits={self.n_circuits}, backend={self.backend!r}{noise}{shots}"
        )

    def expectations(self, pixels: torch.Tensor) -> torch.Tensor:
        """``<Z_i>`` of every circuit on rows of ``pixels`` ``(P, C_in)`` -> ``(P, n_circuits, n_qubits)``.

        With ``noise``, those of the noisy circuits; with ``shots``, their sample means
        (straight-through gradient, see the class docstring). Half-precision layers (float16,
        bfloat16) compute in float32 and return their own dtype.
        """
        compute = torch.float32 if self.weights.dtype in HALF_DTYPES else self.weights.dtype
        weights, inputs = self.weights.to(compute), pixels.to(compute)
        if self.shots is None:
            return self._expectations(inputs, weights).to(pixels.dtype)
        out = sampled_expectations(inputs, self._ansatz, weights, self.shots, self.noise, self.generator)
        if torch.is_grad_enabled() and (weights.requires_grad or inputs.requires_grad):
            exact = self._expectations(inputs, weights)
            out = out + (exact - exact.detach())  # forward: the sample means exactly; backward: d<Z_i>
        return out.to(pixels.dtype)

    def _expectations(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Exact (noisy if ``noise`` is set) ``<Z_i>``, ``(P, K, n)``, in the compute dtype."""
        if self.noise is not None and self.noise.gate_noise:
            forms = noisy_forms(self._ansatz, weights, self.in_channels, self.noise)  # (K, n, C, C)
            values = quadratic_form(inputs, forms.reshape(-1, self.in_channels, self.in_channels))
            return values.view(-1, self.n_circuits, self.n_qubits)
        if self.backend == "exact":
            out = pauli_z_expectations(inputs, circuit_columns(self._ansatz, weights, self.in_channels))
        else:
            from .pennylane_backend import pennylane_expectations

            out = pennylane_expectations(inputs, weights, self._qnode_for_backend())
        # without gate noise, read-out flips and global depolarising scale every <Z_i> (qpconv.noise)
        return out if self.noise is None else out * self.noise.z_scale

    def pixel_map(self, pixels: torch.Tensor) -> torch.Tensor:
        """Output channels of rows of pixels: ``(P, C_in)`` -> ``(P, C_out)``, circuit by circuit, trimmed."""
        values = self.expectations(pixels).reshape(pixels.shape[0], self.n_circuits * self.n_qubits)
        return values[:, : self.out_channels]

    def _qnode_for_backend(self) -> Any:
        if self._pennylane_qnode is None:
            from .pennylane_backend import build_qnode

            self._pennylane_qnode = build_qnode(self.ansatz, self.n_qubits, self.pennylane_device, self.diff_method)
        return self._pennylane_qnode

    def qnode(self, circuit: int = 0) -> Any:
        """Circuit ``circuit`` as a PennyLane QNode ``inputs -> [<Z_0>, ..., <Z_{n-1}>]``.

        The QNode uses this layer's live weights ``self.weights[circuit]``, so it can be
        drawn (``qml.draw_mpl(layer.qnode(0))(x)``) or evaluated on any PennyLane device.

        Args:
            circuit: index ``k`` in ``range(n_circuits)``.
        """
        if not 0 <= circuit < self.n_circuits:
            raise ValueError(f"circuit index {circuit} out of range for a layer of {self.n_circuits} circuits")
        from .pennylane_backend import apply_circuit, qml

        weights = self.weights[circuit]
        dev = qml.device(self.pennylane_device, wires=self.n_qubits)

        def circuit_fn(inputs: Any) -> list[Any]:
            return apply_circuit(self.ansatz, inputs, weights, self.n_qubits)

        return qml.QNode(circuit_fn, dev, interface="torch", diff_method=self.diff_method)
