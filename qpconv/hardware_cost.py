"""What running the quantum pointwise layer on a quantum computer would cost (book: "On a real quantum computer").

Three steps, each a function of stated inputs:

1. :func:`circuit_cost` — the whole circuit of one pixel (PennyLane's ``AmplitudeEmbedding``,
   i.e. Möttönen state preparation, then the ansatz) decomposed by PennyLane into CNOTs and
   ``RX``/``RY``/``RZ``: gate counts and depth.
2. :func:`stage_executions` — circuit executions (one circuit run on one pixel, with a number
   of shots) for one image's forward pass, a test-set evaluation and a training epoch with the
   parameter-shift rule.
3. :func:`qpu_seconds` — the QPU time of those executions on a platform of
   :data:`QPU_PLATFORMS`, whose every figure comes with its public source.

:func:`model_work` reads a model's quantum layers (qubits, circuits, pixels, angles) from
one forward pass, and :func:`hardware_estimate` runs the three steps for them and sets the
result beside a measured CPU epoch (the paper's models: :mod:`qpconv.replication.hardware`).

Conventions:

* An *execution* runs one circuit on one pixel's encoded vector for ``shots`` shots; one
  execution gives every ``<Z_i>`` of that circuit, since all are read from the same
  computational-basis measurement.
* Parameter-shift rule: every gate angle enters as ``exp(-i a P / 2)`` with a Pauli ``P``, so
  its derivative takes two executions (angle ``+- pi/2``) per pixel. The angles shifted are
  (a) the circuit's trainable angles, all of them or only those that can change an output
  (:meth:`~qpconv.layers.QuantumPointwiseConv2d.ineffective_angles`), and (b) when the layers below train,
  the state preparation's ``RY`` angles, which carry the input gradient back-propagation needs
  (the ``RZ`` angles of signed inputs depend only on the signs: zero derivative).
* Counts are of the decomposition as PennyLane emits it, before any transpiler optimisation
  or routing onto a device's coupling map (which may lower or raise them).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import nn

from .circuits import get_ansatz
from .encoding import check_qubit_count
from .layers import QuantumPointwiseConv2d
from .pixelwise import check_channels

__all__ = [
    "DECOMPOSITION_GATES",
    "QPU_PLATFORMS",
    "Amplitudes",
    "AngleShifts",
    "CircuitCost",
    "HardwareEstimate",
    "LayerWork",
    "ModelWork",
    "QpuPlatform",
    "QpuTime",
    "StageExecutions",
    "WorkStage",
    "circuit_cost",
    "hardware_estimate",
    "model_work",
    "qpu_seconds",
    "stage_executions",
]

DECOMPOSITION_GATES = ("CNOT", "RX", "RY", "RZ")
"""The gate set PennyLane decomposes the circuits into; a global phase is dropped, as it is no gate."""

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY


class Amplitudes(Enum):
    """The signs of the encoded vectors, which decide the state preparation's size."""

    NONNEGATIVE = "nonnegative"
    """All channels ``>= 0`` (inputs after a ReLU, as in the paper's model): ``RY`` cascade only."""
    SIGNED = "signed"
    """Any real channels, prepared by the ``RY`` cascade and an ``RZ`` cascade for the signs."""


class AngleShifts(Enum):
    """Which trainable angles the parameter-shift rule shifts."""

    ALL = "all"
    """Every trainable angle, as a plain parameter-shift implementation does."""
    EFFECTIVE = "effective"
    """Only the angles that can change an output (the last block's final ``R_z`` are skipped)."""


@dataclass(frozen=True)
class CircuitCost:
    """Gate counts and depth of one pixel's circuit, decomposed into :data:`DECOMPOSITION_GATES`.

    Book: "On a real quantum computer".

    Attributes:
        n_qubits, n_layers, ansatz, amplitudes: the circuit counted.
        encoding_one_qubit_gates, encoding_cnots: of the state preparation alone.
        encoding_angles: ``RY`` angles of the state preparation (the input gradient's shifts).
        one_qubit_gates, cnots: of the whole circuit (state preparation and ansatz).
        depth: circuit depth (layers of gates on disjoint wires), measurements excluded.
        gate_counts: ``(gate name, count)`` of the whole circuit, sorted by name.
    """

    n_qubits: int
    n_layers: int
    ansatz: str
    amplitudes: Amplitudes
    encoding_one_qubit_gates: int
    encoding_cnots: int
    encoding_angles: int
    one_qubit_gates: int
    cnots: int
    depth: int
    gate_counts: tuple[tuple[str, int], ...]

    @property
    def gates(self) -> int:
        """All gates of the circuit."""
        return self.one_qubit_gates + self.cnots

    @property
    def ansatz_one_qubit_gates(self) -> int:
        """Single-qubit gates of the ansatz alone."""
        return self.one_qubit_gates - self.encoding_one_qubit_gates

    @property
    def ansatz_cnots(self) -> int:
        """CNOTs of the ansatz alone."""
        return self.cnots - self.encoding_cnots


def _generic_amplitudes(n_qubits: int, amplitudes: Amplitudes) -> Any:
    """A dense vector of ``2**n`` amplitudes whose state preparation has no rotation left out.

    PennyLane drops rotations of angle zero and the phase cascade of a vector without signs;
    random non-zero entries (fixed seed) have no zero angle. For signed vectors the entries
    are marked as differentiated, which makes PennyLane keep every rotation of both cascades.
    """
    values = np.random.default_rng(0).uniform(0.5, 1.5, 2**n_qubits)
    if amplitudes is Amplitudes.NONNEGATIVE:
        return values
    signs = np.where(np.arange(2**n_qubits) % 2 == 0, 1.0, -1.0)
    return torch.tensor(values * signs, requires_grad=True)


def _decomposed_counts(qml: Any, operations: list[Any]) -> tuple[Counter[str], int, int]:
    """``(gate counts, single-qubit gates, depth)`` of ``operations`` decomposed into :data:`DECOMPOSITION_GATES`."""
    tape = qml.tape.QuantumScript(operations)
    (decomposed,), _ = qml.transforms.decompose(tape, gate_set={*DECOMPOSITION_GATES, "GlobalPhase"})
    gates = [op for op in decomposed.operations if op.name != "GlobalPhase"]
    unexpected = sorted({op.name for op in gates} - set(DECOMPOSITION_GATES))
    if unexpected:
        raise RuntimeError(f"PennyLane left gates outside {DECOMPOSITION_GATES}: {unexpected}")
    depth = qml.tape.QuantumScript(gates).specs["resources"].depth
    return Counter(op.name for op in gates), sum(len(op.wires) == 1 for op in gates), depth


def circuit_cost(
    n_qubits: int, n_layers: int, ansatz: str = "strongly_entangling", amplitudes: Amplitudes = Amplitudes.NONNEGATIVE
) -> CircuitCost:
    """Gate counts and depth of the circuit of one pixel on ``n_qubits`` qubits, state preparation included.

    Book: "On a real quantum computer".

    The circuit is :func:`qpconv.pennylane_backend.apply_circuit` (what the PennyLane backend
    runs) on a dense vector of ``2**n_qubits`` channels, decomposed by PennyLane's
    ``qml.transforms.decompose`` into :data:`DECOMPOSITION_GATES`; ``Rot`` becomes
    ``RZ RY RZ``, ``AmplitudeEmbedding`` Möttönen's cascades of uniformly controlled rotations
    (``2**n - 1`` ``RY`` and ``2**n - 2`` CNOTs; as many again for the signs of signed vectors).

    Args:
        n_qubits: ``n``, at most :data:`qpconv.encoding.MAX_QUBITS`.
        n_layers: ``L``, blocks of the ansatz.
        ansatz: a name of ``qpconv.circuits.ANSATZE``.
        amplitudes: the signs of the encoded vectors (:class:`Amplitudes`).

    Returns:
        A :class:`CircuitCost`.

    Raises:
        ValueError: ``n_qubits`` or ``n_layers`` not a positive integer, too many qubits, or an unknown ansatz.
        ImportError: PennyLane is not installed (extra ``pennylane``).

    Example::

        >>> cost = circuit_cost(2, 1)
        >>> cost.encoding_one_qubit_gates, cost.encoding_cnots, cost.one_qubit_gates, cost.cnots, cost.depth
        (3, 2, 9, 4, 9)
    """
    check_channels(n_qubits=n_qubits, n_layers=n_layers)
    check_qubit_count(n_qubits, 1)
    shape = get_ansatz(ansatz).weight_shape(n_layers, n_qubits)
    from .pennylane_backend import apply_circuit, qml

    inputs = _generic_amplitudes(n_qubits, amplitudes)
    weights = np.random.default_rng(1).uniform(0.1, 2 * math.pi - 0.1, shape)
    wires = list(range(n_qubits))
    with qml.queuing.AnnotatedQueue() as queue:
        apply_circuit(ansatz, inputs, weights, n_qubits)
    circuit = qml.tape.QuantumScript.from_queue(queue).operations
    encoding = [qml.AmplitudeEmbedding(inputs, wires=wires, pad_with=0.0, normalize=True)]
    encoding_counts, encoding_one_qubit, _ = _decomposed_counts(qml, encoding)
    counts, one_qubit, depth = _decomposed_counts(qml, circuit)
    return CircuitCost(
        n_qubits=n_qubits,
        n_layers=n_layers,
        ansatz=ansatz,
        amplitudes=amplitudes,
        encoding_one_qubit_gates=encoding_one_qubit,
        encoding_cnots=encoding_counts["CNOT"],
        encoding_angles=encoding_counts["RY"],
        one_qubit_gates=one_qubit,
        cnots=counts["CNOT"],
        depth=depth,
        gate_counts=tuple(sorted(counts.items())),
    )


@dataclass(frozen=True)
class LayerWork:
    """One quantum layer as it runs on one image: its circuits and the pixels they see.

    Book: "On a real quantum computer".

    Attributes:
        n_qubits, n_layers, ansatz: of its circuits.
        n_circuits: ``K``, circuits per pixel.
        pixels_per_image: ``H * W`` of the feature map it is applied to.
        angles: trainable angles of all its circuits (``K * L * n * p``).
        effective_angles: those that can change an output.
        input_gradient: whether training needs the gradient with respect to its input
            (trainable layers below it).
    """

    n_qubits: int
    n_layers: int
    ansatz: str
    n_circuits: int
    pixels_per_image: int
    angles: int
    effective_angles: int
    input_gradient: bool

    def __post_init__(self) -> None:
        check_channels(
            n_qubits=self.n_qubits, n_layers=self.n_layers, n_circuits=self.n_circuits, pixels_per_image=self.pixels_per_image
        )
        if not 0 <= self.effective_angles <= self.angles:
            raise ValueError(f"effective_angles must lie in [0, angles={self.angles}], got {self.effective_angles!r}")

    @classmethod
    def from_layer(cls, layer: QuantumPointwiseConv2d, pixels_per_image: int, input_gradient: bool) -> LayerWork:
        """The work of ``layer`` applied to feature maps of ``pixels_per_image`` pixels."""
        return cls(
            n_qubits=layer.n_qubits,
            n_layers=layer.n_layers,
            ansatz=layer.ansatz,
            n_circuits=layer.n_circuits,
            pixels_per_image=pixels_per_image,
            angles=layer.weights.numel(),
            effective_angles=layer.n_effective_angles,
            input_gradient=input_gradient,
        )


@dataclass(frozen=True)
class ModelWork:
    """A model's quantum layers as they run on one image.

    Attributes:
        layers: a :class:`LayerWork` per quantum layer, in the order the forward pass runs them.
        amplitudes: :attr:`Amplitudes.NONNEGATIVE` when every quantum layer's input was ``>= 0``
            on the example (as after a ReLU), else :attr:`Amplitudes.SIGNED`.
    """

    layers: tuple[LayerWork, ...]
    amplitudes: Amplitudes


def model_work(model: nn.Module, example: torch.Tensor) -> ModelWork:
    """The work of ``model``'s quantum layers, read from one forward pass on ``example``.

    Book: "On a real quantum computer".

    A layer needs its input gradient when a module with trainable parameters runs before it
    in the forward pass. The model runs once in eval mode without gradients; its mode is
    restored.

    Args:
        model: a module holding :class:`~qpconv.layers.QuantumPointwiseConv2d` layers.
        example: one input ``(1, ...)`` of the model, e.g. an image ``(1, C, H, W)``.

    Returns:
        A :class:`ModelWork`.

    Raises:
        ValueError: ``example`` is not a batch of one, or the forward pass runs no quantum layer.

    Example::

        >>> model = nn.Sequential(nn.Conv2d(1, 4, 1), nn.ReLU(), QuantumPointwiseConv2d(4, 3, n_layers=1))
        >>> work = model_work(model, torch.randn(1, 1, 5, 5))
        >>> layer = work.layers[0]
        >>> layer.n_qubits, layer.n_circuits, layer.pixels_per_image, layer.input_gradient, work.amplitudes.value
        (2, 2, 25, True, 'nonnegative')
    """
    if example.ndim < 1 or example.shape[0] != 1:
        raise ValueError(f"example must be a batch of one input, got shape {tuple(example.shape)}")
    calls: list[tuple[nn.Module, torch.Tensor]] = []
    with_parameters = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    watched = {*with_parameters, *(m for m in model.modules() if isinstance(m, QuantumPointwiseConv2d))}
    hooks = [m.register_forward_pre_hook(lambda module, args: calls.append((module, args[0]))) for m in watched]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    layers, nonnegative, trainable_before = [], True, False
    for module, inputs in calls:
        if isinstance(module, QuantumPointwiseConv2d):
            pixels = math.prod(inputs.shape[2:])
            layers.append(LayerWork.from_layer(module, pixels, input_gradient=trainable_before))
            nonnegative &= bool((inputs >= 0).all())
        trainable_before |= any(p.requires_grad for p in module.parameters(recurse=False))
    if not layers:
        raise ValueError("the forward pass on example ran no QuantumPointwiseConv2d layer")
    return ModelWork(tuple(layers), Amplitudes.NONNEGATIVE if nonnegative else Amplitudes.SIGNED)


class WorkStage(Enum):
    """What the executions are for."""

    FORWARD_PASS = "forward pass of one image"
    TEST_EVALUATION = "test-set evaluation"
    TRAINING_EPOCH = "training epoch (parameter shift) and its test evaluation"


@dataclass(frozen=True)
class StageExecutions:
    """Circuit executions of one :class:`WorkStage`, layer by layer.

    Attributes:
        stage: what they are for.
        images: images processed (training images for an epoch, which also evaluates ``test_images``).
        per_layer: executions of each layer, in the order of the layers given.
        shots_per_circuit: shots of every execution.
    """

    stage: WorkStage
    images: int
    per_layer: tuple[int, ...]
    shots_per_circuit: int

    @property
    def executions(self) -> int:
        """Executions of all layers."""
        return sum(self.per_layer)

    @property
    def shots(self) -> int:
        """Shots of all layers."""
        return self.executions * self.shots_per_circuit


def _forward(work: LayerWork) -> int:
    return work.pixels_per_image * work.n_circuits


def _training(work: LayerWork, cost: CircuitCost, shifts: AngleShifts) -> int:
    angles = work.angles if shifts is AngleShifts.ALL else work.effective_angles
    weight_shifts = 2 * angles * work.pixels_per_image
    input_shifts = 2 * cost.encoding_angles * _forward(work) if work.input_gradient else 0
    return _forward(work) + weight_shifts + input_shifts


def stage_executions(
    layers: Sequence[tuple[LayerWork, CircuitCost]],
    *,
    train_images: int,
    test_images: int,
    shots: int,
    shifts: AngleShifts = AngleShifts.ALL,
) -> tuple[StageExecutions, StageExecutions, StageExecutions]:
    """Circuit executions of a model's quantum layers: one forward pass, a test evaluation, a training epoch.

    Book: "On a real quantum computer".

    Per image and layer: a forward pass runs ``pixels * K`` executions; a training step adds
    ``2 * angles * pixels`` for the weights' parameter shifts (``angles`` per ``shifts``) and,
    when the layer needs its input gradient, ``2 * encoding_angles * pixels * K``. An epoch is
    ``train_images`` training steps and the evaluation of ``test_images`` (what the recorded
    runs' epoch time measures).

    Args:
        layers: ``(work, cost)`` of each quantum layer, ``cost`` the circuit of ``work``.
        train_images, test_images: images of the training and test sets.
        shots: shots per execution.
        shifts: which trainable angles are shifted (:class:`AngleShifts`).

    Returns:
        ``(forward pass, test evaluation, training epoch)`` as :class:`StageExecutions`.

    Raises:
        ValueError: a count is not a positive integer, or a cost is not that of its layer's circuit.

    Example::

        >>> work = LayerWork(1, 1, "strongly_entangling", n_circuits=2, pixels_per_image=4, angles=6,
        ...                  effective_angles=4, input_gradient=False)
        >>> forward, test, epoch = stage_executions([(work, circuit_cost(1, 1))], train_images=10, test_images=5, shots=100)
        >>> forward.executions, test.executions, epoch.executions, epoch.shots
        (8, 40, 600, 60000)
    """
    check_channels(train_images=train_images, test_images=test_images, shots=shots)
    for work, cost in layers:
        circuit = (work.n_qubits, work.n_layers, work.ansatz)
        if circuit != (cost.n_qubits, cost.n_layers, cost.ansatz):
            raise ValueError(f"a layer of (n_qubits, n_layers, ansatz) {circuit} was given the cost of another circuit")
    forward = tuple(_forward(work) for work, _ in layers)
    epoch = tuple(train_images * _training(work, cost, shifts) + test_images * _forward(work) for work, cost in layers)
    return (
        StageExecutions(WorkStage.FORWARD_PASS, 1, forward, shots),
        StageExecutions(WorkStage.TEST_EVALUATION, test_images, tuple(test_images * f for f in forward), shots),
        StageExecutions(WorkStage.TRAINING_EPOCH, train_images, epoch, shots),
    )


@dataclass(frozen=True)
class QpuPlatform:
    """How long a QPU takes per shot and per circuit, with the public source of every figure.

    A shot of a circuit takes ``shot_seconds + one_qubit_gates * one_qubit_gate_seconds +
    cnots * two_qubit_gate_seconds`` (gates one after another, as on a single ion chain; for
    platforms measured by a throughput benchmark the gate terms are zero and ``shot_seconds``
    is the measured time per shot); each execution adds ``circuit_seconds``.

    Attributes:
        name: the system.
        technology: ``"superconducting"`` or ``"trapped ion"``.
        shot_seconds: fixed time per shot (readout, reset, repetition delay; or all of it).
        one_qubit_gate_seconds, two_qubit_gate_seconds: per gate, for gate-timed platforms.
        circuit_seconds: overhead per execution (loading a new circuit); 0 where the source
            includes it or gives none (then times are lower bounds).
        source_url: where the figures are published.
        source_says: what the source says, and how the figures follow from it.
    """

    name: str
    technology: str
    shot_seconds: float
    one_qubit_gate_seconds: float
    two_qubit_gate_seconds: float
    circuit_seconds: float
    source_url: str
    source_says: str

    def seconds_per_shot(self, cost: CircuitCost) -> float:
        """Seconds one shot of the circuit ``cost`` takes."""
        return self.shot_seconds + cost.one_qubit_gates * self.one_qubit_gate_seconds + cost.cnots * self.two_qubit_gate_seconds

    def shots_per_second(self, cost: CircuitCost) -> float:
        """Shots of the circuit ``cost`` per second."""
        return 1.0 / self.seconds_per_shot(cost)


def _clops_platform(name: str, clops: float, layers: int, says: str) -> QpuPlatform:
    """A platform measured by IBM's CLOPS: ``clops`` QV layers x shots per second on ``layers``-layer circuits."""
    return QpuPlatform(
        name=name,
        technology="superconducting",
        shot_seconds=layers / clops,
        one_qubit_gate_seconds=0.0,
        two_qubit_gate_seconds=0.0,
        circuit_seconds=0.0,
        source_url="https://quantumbenchmarkzoo.org/content/system-level-benchmark/others/clops",
        source_says=(
            f"{says} (table of CLOPS results); CLOPS, defined by IBM (arXiv:2110.14108, "
            "https://research.ibm.com/blog/circuit-layer-operations-per-second), "
            "= M templates x K parameter updates x S shots x D layers / time (M=100, K=10, S=100), "
            f"so a shot of a D={layers} quantum-volume circuit takes D / CLOPS = {layers / clops * 1e6:.0f} us, "
            "compilation and loading included; used as the time per shot whatever the circuit (its gate time is not added)"
        ),
    )


QPU_PLATFORMS: tuple[QpuPlatform, ...] = (
    _clops_platform("IBM Heron r2 (ibm_fez, ibm_marrakesh)", 195_000, 9, "IBM, 2025/02: CLOPS_h 195,000 with 9 QV layers"),
    _clops_platform("IBM Eagle r3 (ibm_sherbrooke)", 30_000, 7, "IBM, 2025/02: CLOPS_h 30,000 with 7 QV layers"),
    _clops_platform("IBM ibmq_brooklyn (2021)", 753, 5, "IBM, 2021/10: CLOPS 753 with 5 QV layers"),
    QpuPlatform(
        name="IonQ Harmony",
        technology="trapped ion",
        shot_seconds=125e-6,
        one_qubit_gate_seconds=10e-6,
        two_qubit_gate_seconds=210e-6,
        circuit_seconds=0.0,
        source_url=(
            "https://github.com/MicrosoftDocs/quantum-docs/blob/002ea9227df5fb165e89607e7fa7b5c53f03c94b/articles/provider-ionq.md"
        ),
        source_says=(
            "Azure Quantum's IonQ provider page (revision dated 2021-12-01; the 11-qubit IonQ QPU), 'System timing': "
            "single-qubit gate 10 us, "
            "two-qubit gate 210 us, readout 100 us, register reset 25 us; shot = reset + readout + gates one after another"
        ),
    ),
    QpuPlatform(
        name="AQT IBEX-Q1",
        technology="trapped ion",
        shot_seconds=1 / 5.5,
        one_qubit_gate_seconds=0.0,
        two_qubit_gate_seconds=0.0,
        circuit_seconds=0.0,
        source_url="https://github.com/scaleway/docs-content/pull/5902",
        source_says=(
            "Scaleway's AQT QPU page (pages/quantum-computing/additional-content/aqt-qpus.mdx): IBEX-Q1, 12 qubits, "
            "'Speed Metrics 5.5Hz', read here as 5.5 shots per second whatever the circuit"
        ),
    ),
)
"""Shot rates of published systems, fastest first (see each row's source)."""


def qpu_seconds(
    executions: StageExecutions, costs: Sequence[CircuitCost], platform: QpuPlatform, circuit_seconds: float | None = None
) -> float:
    """QPU seconds the ``executions`` take on ``platform``, queueing excluded.

    Book: "On a real quantum computer".

    Args:
        executions: from :func:`stage_executions`.
        costs: the circuit of each layer, in the order of ``executions.per_layer``.
        platform: a row of :data:`QPU_PLATFORMS`.
        circuit_seconds: overhead per execution; default the platform's.

    Returns:
        ``sum over layers of executions * (shots * seconds per shot + circuit overhead)``, in seconds.

    Raises:
        ValueError: ``costs`` does not match the layers, or a negative overhead.

    Example::

        >>> work = LayerWork(1, 1, "strongly_entangling", 1, 1, angles=3, effective_angles=2, input_gradient=False)
        >>> cost = circuit_cost(1, 1)
        >>> forward, _, _ = stage_executions([(work, cost)], train_images=1, test_images=1, shots=1000)
        >>> ion = QPU_PLATFORMS[3]
        >>> round(qpu_seconds(forward, [cost], ion), 3)  # 1000 x (125 + 4 x 10) us
        0.165
    """
    if len(costs) != len(executions.per_layer):
        raise ValueError(f"{len(executions.per_layer)} layers but {len(costs)} circuit costs")
    overhead = platform.circuit_seconds if circuit_seconds is None else circuit_seconds
    if overhead < 0:
        raise ValueError(f"circuit_seconds must be >= 0, got {overhead!r}")
    return sum(
        count * (executions.shots_per_circuit * platform.seconds_per_shot(cost) + overhead)
        for count, cost in zip(executions.per_layer, costs, strict=True)
    )


@dataclass(frozen=True)
class QpuTime:
    """The QPU time of one stage on one platform.

    Attributes:
        platform: where it runs.
        executions: what runs (the stage, its executions and shots).
        seconds: QPU seconds, queueing excluded (:func:`qpu_seconds`).
    """

    platform: QpuPlatform
    executions: StageExecutions
    seconds: float

    @property
    def days(self) -> float:
        """``seconds`` in days."""
        return self.seconds / SECONDS_PER_DAY

    @property
    def years(self) -> float:
        """``seconds`` in years of 365.25 days."""
        return self.seconds / SECONDS_PER_YEAR


@dataclass(frozen=True)
class HardwareEstimate:
    """What a model's quantum layers would cost on QPUs, next to the CPU time of the exact simulation.

    Book: "On a real quantum computer".

    Attributes:
        costs: the circuit of each quantum layer.
        stages: ``(forward pass, test evaluation, training epoch)`` executions.
        times: a :class:`QpuTime` per platform and stage, platform by platform.
        cpu_seconds_per_epoch: the recorded CPU seconds of one epoch (training and test
            evaluation) with the exact simulation.
        shifts: which trainable angles the parameter-shift rule shifts.
    """

    costs: tuple[CircuitCost, ...]
    stages: tuple[StageExecutions, StageExecutions, StageExecutions]
    times: tuple[QpuTime, ...]
    cpu_seconds_per_epoch: float
    shifts: AngleShifts

    def epoch_times(self) -> tuple[QpuTime, ...]:
        """The training epoch's :class:`QpuTime` on each platform."""
        return tuple(time for time in self.times if time.executions.stage is WorkStage.TRAINING_EPOCH)

    def slowdown(self, time: QpuTime) -> float:
        """How many times longer than the recorded CPU epoch an epoch takes on ``time``'s platform.

        Raises:
            ValueError: ``time`` is not of a training epoch.
        """
        if time.executions.stage is not WorkStage.TRAINING_EPOCH:
            raise ValueError(f"slowdown compares training epochs, got the {time.executions.stage.value}")
        return time.seconds / self.cpu_seconds_per_epoch


def hardware_estimate(
    layers: Sequence[LayerWork],
    *,
    train_images: int,
    test_images: int,
    cpu_seconds_per_epoch: float,
    shots: int = 1000,
    amplitudes: Amplitudes = Amplitudes.NONNEGATIVE,
    shifts: AngleShifts = AngleShifts.ALL,
    platforms: Sequence[QpuPlatform] = QPU_PLATFORMS,
) -> HardwareEstimate:
    """Gate counts, executions, shots and QPU times of a model's quantum layers, and the CPU epoch time beside them.

    Book: "On a real quantum computer".

    Args:
        layers: the model's quantum layers (:meth:`LayerWork.from_layer`).
        train_images, test_images: images of the training and test sets.
        cpu_seconds_per_epoch: measured seconds of one epoch with the exact simulation (> 0).
        shots: shots per execution.
        amplitudes: the signs of the layers' inputs.
        shifts: which trainable angles the parameter-shift rule shifts.
        platforms: rows of :data:`QPU_PLATFORMS` (or others).

    Returns:
        A :class:`HardwareEstimate`.

    Raises:
        ValueError: no layers, a count not a positive integer, or ``cpu_seconds_per_epoch <= 0``.

    Example::

        >>> work = LayerWork(1, 1, "strongly_entangling", 1, 1, angles=3, effective_angles=2, input_gradient=False)
        >>> estimate = hardware_estimate([work], train_images=1, test_images=1, cpu_seconds_per_epoch=1.0, shots=1)
        >>> [time.executions.executions for time in estimate.epoch_times()][:2]
        [8, 8]
    """
    if not layers:
        raise ValueError("layers must name at least one quantum layer")
    if not cpu_seconds_per_epoch > 0:
        raise ValueError(f"cpu_seconds_per_epoch must be > 0, got {cpu_seconds_per_epoch!r}")
    check_channels(train_images=train_images, test_images=test_images, shots=shots)
    costs = tuple(circuit_cost(work.n_qubits, work.n_layers, work.ansatz, amplitudes) for work in layers)
    stages = stage_executions(
        list(zip(layers, costs, strict=True)), train_images=train_images, test_images=test_images, shots=shots, shifts=shifts
    )
    times = tuple(QpuTime(platform, stage, qpu_seconds(stage, costs, platform)) for platform in platforms for stage in stages)
    return HardwareEstimate(costs, stages, times, float(cpu_seconds_per_epoch), shifts)
