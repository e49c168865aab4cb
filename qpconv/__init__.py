"""qpconv: the quantum pointwise convolution of Ning, Li and Chen, exact and fast, for PyTorch.

The package behind the book "Quantum Pointwise Convolution, replicated". It has two
wings. The **core**, what ``import qpconv`` loads (torch and nothing heavier):

* :mod:`qpconv.encoding`          amplitude encoding (chapter 2)
* :mod:`qpconv.circuits`          ansätze and their unitaries (chapters 3-4)
* :mod:`qpconv.simulation`        exact <Z_i> of all pixels in one matrix product (chapters 5-6)
* :mod:`qpconv.cpu_kernels`       the fused C++ CPU kernels and their PyTorch operators (chapter 6)
* :mod:`qpconv.pixelwise`         the 1x1 layers' shared reshapes and input contract
* :mod:`qpconv.layers`            ``QuantumPointwiseConv2d`` (chapter 5)
* :mod:`qpconv.dequantise`        a trained quantum layer as the quadratic forms it computes ("What makes it work?")
* :mod:`qpconv.quadratic`         classical layers of the same form: normalised quadratic and linear
* :mod:`qpconv.relaxation`        the quantum read-out with any unitary instead of the circuit's
* :mod:`qpconv.noise`             gate noise simulated exactly, ``NoiseModel`` ("On a real quantum computer")
* :mod:`qpconv.shots`             finite shots: outputs from sampled bitstrings ("On a real quantum computer")
* :mod:`qpconv.hardware_conditions` a trained model's quantum layers run with noise and shots ("On a real quantum computer")
* :mod:`qpconv.pennylane_backend` the same layer through PennyLane QNodes (reference; extra ``pennylane``)
* :mod:`qpconv.surgery`           ``swap_pointwise``: quantum layers in place of a model's 1x1 convolutions
* :mod:`qpconv.hardware_cost`     gate counts, executions and QPU time of the layer on hardware (extra ``pennylane``)

The **replication wing**, :mod:`qpconv.replication` (extra ``replication``): the paper's
data, models, training, experiments, figures and claims. The core never imports it.
The face: :mod:`qpconv.cli` (the ``qpconv`` command), :mod:`qpconv.bench`
(``qpconv bench``, chapter 6) and :mod:`qpconv.bench_scaling` (``qpconv bench --scaling``).
"""

from .circuits import ANSATZE, circuit_columns
from .dequantise import dequantise
from .encoding import MAX_QUBITS, amplitude_encode, qubits_for_channels
from .hardware_conditions import hardware_conditions
from .layers import BACKENDS, QuantumPointwiseConv2d
from .noise import NoiseModel
from .quadratic import NormalisedLinearConv2d, NormalisedQuadraticConv2d, QuadraticFormConv2d
from .relaxation import UnitaryReadoutConv2d
from .simulation import pauli_z_expectations, z_signs
from .surgery import BiasedQuantumPointwiseConv2d, SkippedConv, SkipReason, SwappedLayer, SwapReport, swap_pointwise

__version__ = "0.1.0"

__all__ = [
    "ANSATZE",
    "BACKENDS",
    "MAX_QUBITS",
    "BiasedQuantumPointwiseConv2d",
    "NoiseModel",
    "NormalisedLinearConv2d",
    "NormalisedQuadraticConv2d",
    "QuadraticFormConv2d",
    "QuantumPointwiseConv2d",
    "SkipReason",
    "SkippedConv",
    "SwapReport",
    "SwappedLayer",
    "UnitaryReadoutConv2d",
    "amplitude_encode",
    "circuit_columns",
    "dequantise",
    "hardware_conditions",
    "pauli_z_expectations",
    "qubits_for_channels",
    "swap_pointwise",
    "z_signs",
]
