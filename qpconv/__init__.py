"""qpconv: the quantum pointwise convolution of Ning, Li and Chen, exact and fast, for PyTorch.

The package behind the book "Quantum Pointwise Convolution, replicated". Modules:

* :mod:`qpconv.encoding`   amplitude encoding (chapter 2)
* :mod:`qpconv.circuits`   ansätze and their unitaries (chapters 3-4)
* :mod:`qpconv.simulation` exact <Z_i> of all pixels in one matrix product (chapters 5-6)
* :mod:`qpconv.layers`     ``QuantumPointwiseConv2d`` (chapter 5)
* :mod:`qpconv.pennylane_backend` the same layer through PennyLane QNodes (reference)
* :mod:`qpconv.bench`      the speed benchmark (chapter 6)
* :mod:`qpconv.data`       Fashion-MNIST and CIFAR-10: download, offline preparation, loaders (chapter 7)
* :mod:`qpconv.models`     the paper's hybrid CNN and its classical twin, Fig. 3 (chapter 7)
* :mod:`qpconv.diagrams`   block diagrams of the models, Fig. 3 (chapter 7)
* :mod:`qpconv.training`   the paper's training recipe, resumable (chapter 7)
* :mod:`qpconv.results`    atomic result files and their layout (replication)
* :mod:`qpconv.experiments` the paper's experiments, presets and the runner (replication)
* :mod:`qpconv.plotting`   Figs. 4-8 from recorded runs (replication)
* :mod:`qpconv.claims`     the paper's claims checked against the runs (replication)
* :mod:`qpconv.cli`        the ``qpconv`` command
"""

from .circuits import ANSATZE, circuit_columns
from .encoding import MAX_QUBITS, amplitude_encode, qubits_for_channels
from .layers import BACKENDS, QuantumPointwiseConv2d
from .simulation import pauli_z_expectations, z_signs

__version__ = "0.1.0"

__all__ = [
    "ANSATZE",
    "BACKENDS",
    "MAX_QUBITS",
    "QuantumPointwiseConv2d",
    "amplitude_encode",
    "circuit_columns",
    "pauli_z_expectations",
    "qubits_for_channels",
    "z_signs",
]
