"""What the quantum layers would cost on a QPU: gate counts by hand, executions on tiny models, times, bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from qpconv import QuantumPointwiseConv2d
from qpconv.hardware_cost import (
    QPU_PLATFORMS,
    Amplitudes,
    AngleShifts,
    LayerWork,
    WorkStage,
    circuit_cost,
    hardware_estimate,
    model_work,
    qpu_seconds,
    stage_executions,
)

pytest.importorskip("pennylane")

ION_TRAP = next(p for p in QPU_PLATFORMS if p.name == "IonQ Harmony")


def _tiny_model() -> nn.Sequential:
    """A trainable 1x1 convolution, a ReLU, then a quantum layer of 2 qubits, 2 circuits, L = 1."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 1), nn.ReLU(), QuantumPointwiseConv2d(4, 3, n_layers=1))


@pytest.mark.parametrize("amplitudes", list(Amplitudes))
@pytest.mark.parametrize(("n_qubits", "n_layers"), [(1, 1), (1, 2), (2, 1), (2, 3), (3, 2)])
def test_gate_counts_are_those_derived_by_hand(n_qubits, n_layers, amplitudes):
    # Möttönen: a cascade of uniformly controlled RY with k = 0..n-1 controls, 2**k rotations and
    # 2**k CNOTs each (none for k = 0): 2**n - 1 RY, 2**n - 2 CNOTs; signs add the same in RZ.
    # Strongly entangling block: Rot = RZ RY RZ on each of n wires, n CNOTs when n > 1.
    cascades = 1 if amplitudes is Amplitudes.NONNEGATIVE else 2
    cost = circuit_cost(n_qubits, n_layers, amplitudes=amplitudes)
    assert cost.encoding_one_qubit_gates == cascades * (2**n_qubits - 1)
    assert cost.encoding_cnots == cascades * (2**n_qubits - 2)
    assert cost.encoding_angles == 2**n_qubits - 1
    assert cost.ansatz_one_qubit_gates == 3 * n_layers * n_qubits
    assert cost.ansatz_cnots == (n_layers * n_qubits if n_qubits > 1 else 0)
    assert cost.gates == sum(count for _, count in cost.gate_counts)


def test_depth_of_the_smallest_circuits_by_hand():
    # n = 1: RY (encoding), then RZ RY RZ, all on one wire
    assert circuit_cost(1, 1).depth == 4
    # n = 2: RY(0) | RY(1) CNOT RY(1) CNOT (encoding: 4 layers), Rot on both wires (3), CNOT(0,1), CNOT(1,0)
    assert circuit_cost(2, 1).depth == 9


def test_the_papers_7_and_6_qubit_layers_decompose():
    seven, six = circuit_cost(7, 3), circuit_cost(6, 3)
    assert (seven.one_qubit_gates, seven.cnots) == (127 + 63, 126 + 21)
    assert (six.one_qubit_gates, six.cnots) == (63 + 54, 62 + 18)
    assert seven.depth > six.depth


def test_model_work_reads_the_layers_pixels_and_gradients_from_a_forward_pass():
    work = model_work(_tiny_model(), torch.randn(1, 1, 3, 3))
    (layer,) = work.layers
    assert (layer.n_qubits, layer.n_layers, layer.n_circuits, layer.pixels_per_image) == (2, 1, 2, 9)
    assert (layer.angles, layer.effective_angles) == (2 * 1 * 2 * 3, 2 * 1 * 2 * 3 - 2 * 2)
    assert layer.input_gradient and work.amplitudes is Amplitudes.NONNEGATIVE
    first = model_work(nn.Sequential(QuantumPointwiseConv2d(4, 3, n_layers=1)), -torch.ones(1, 4, 2, 2))
    assert not first.layers[0].input_gradient and first.amplitudes is Amplitudes.SIGNED


@pytest.mark.parametrize(("shifts", "angles"), [(AngleShifts.ALL, 12), (AngleShifts.EFFECTIVE, 8)])
def test_executions_of_a_tiny_model_follow_the_parameter_shift_count(shifts, angles):
    (layer,) = model_work(_tiny_model(), torch.randn(1, 1, 3, 3)).layers
    cost = circuit_cost(2, 1)
    forward, test, epoch = stage_executions([(layer, cost)], train_images=5, test_images=3, shots=10, shifts=shifts)
    per_image = 9 * 2  # pixels x circuits
    training = per_image + 2 * angles * 9 + 2 * 3 * per_image  # forward, weight shifts, input shifts (3 RY angles)
    assert [s.stage for s in (forward, test, epoch)] == [
        WorkStage.FORWARD_PASS,
        WorkStage.TEST_EVALUATION,
        WorkStage.TRAINING_EPOCH,
    ]
    assert (forward.executions, test.executions, epoch.executions) == (per_image, 3 * per_image, 5 * training + 3 * per_image)
    assert epoch.shots == 10 * epoch.executions


def test_qpu_seconds_by_hand_on_a_gate_timed_platform():
    layer = LayerWork(2, 1, "strongly_entangling", 2, 9, angles=12, effective_angles=8, input_gradient=True)
    cost = circuit_cost(2, 1)
    forward, _, _ = stage_executions([(layer, cost)], train_images=1, test_images=1, shots=100)
    shot = 125e-6 + 9 * 10e-6 + 4 * 210e-6  # reset + readout, 9 single-qubit gates, 4 CNOTs
    assert qpu_seconds(forward, [cost], ION_TRAP) == pytest.approx(18 * 100 * shot)
    assert qpu_seconds(forward, [cost], ION_TRAP, circuit_seconds=0.5) == pytest.approx(18 * (100 * shot + 0.5))


def test_costs_grow_with_qubits_blocks_shots_and_images():
    assert circuit_cost(3, 2).gates < circuit_cost(4, 2).gates
    assert circuit_cost(3, 2).gates < circuit_cost(3, 3).gates
    layer = LayerWork(2, 1, "strongly_entangling", 2, 9, angles=12, effective_angles=8, input_gradient=False)

    def epoch_seconds(shots, train_images):
        estimate = hardware_estimate(
            [layer], train_images=train_images, test_images=2, cpu_seconds_per_epoch=1.0, shots=shots, platforms=[ION_TRAP]
        )
        return estimate.epoch_times()[0].seconds

    assert epoch_seconds(10, 4) < epoch_seconds(20, 4) < epoch_seconds(20, 8)
    assert epoch_seconds(20, 4) == pytest.approx(2 * epoch_seconds(10, 4))


def test_estimate_times_convert_and_compare_with_the_cpu():
    layer = LayerWork(1, 1, "strongly_entangling", 1, 1, angles=3, effective_angles=2, input_gradient=False)
    estimate = hardware_estimate([layer], train_images=1, test_images=1, cpu_seconds_per_epoch=2.0, shots=1)
    (epoch,) = [t for t in estimate.epoch_times() if t.platform is ION_TRAP]
    assert epoch.days == pytest.approx(epoch.seconds / 86_400)
    assert epoch.years == pytest.approx(epoch.days / 365.25)
    assert estimate.slowdown(epoch) == pytest.approx(epoch.seconds / 2.0)
    forward = next(t for t in estimate.times if t.executions.stage is WorkStage.FORWARD_PASS)
    with pytest.raises(ValueError, match=r"^slowdown compares training epochs, got the forward pass of one image$"):
        estimate.slowdown(forward)
    assert len(estimate.times) == 3 * len(QPU_PLATFORMS)


def test_every_platform_states_its_source():
    for platform in QPU_PLATFORMS:
        assert platform.source_url.startswith("https://") and platform.source_says
        assert platform.shots_per_second(circuit_cost(1, 1)) > 0


def test_bad_input_is_refused_with_a_clear_message():
    layer = LayerWork(1, 1, "strongly_entangling", 1, 1, angles=3, effective_angles=2, input_gradient=False)
    with pytest.raises(ValueError, match=r"^n_qubits must be a positive integer, got 0$"):
        circuit_cost(0, 1)
    with pytest.raises(ValueError, match=r"^n_layers must be a positive integer, got -1$"):
        circuit_cost(2, -1)
    with pytest.raises(ValueError, match=r"^shots must be a positive integer, got 0$"):
        stage_executions([(layer, circuit_cost(1, 1))], train_images=1, test_images=1, shots=0)
    with pytest.raises(ValueError, match=r"^shots must be a positive integer, got -5$"):
        hardware_estimate([layer], train_images=1, test_images=1, cpu_seconds_per_epoch=1.0, shots=-5)
    with pytest.raises(ValueError, match=r"^cpu_seconds_per_epoch must be > 0, got 0.0$"):
        hardware_estimate([layer], train_images=1, test_images=1, cpu_seconds_per_epoch=0.0)
    with pytest.raises(ValueError, match=r"^a layer of \(n_qubits, n_layers, ansatz\) \(1, 1, 'strongly_entangling'\) was given"):
        stage_executions([(layer, circuit_cost(2, 1))], train_images=1, test_images=1, shots=1)
    with pytest.raises(ValueError, match=r"^effective_angles must lie in \[0, angles=3\], got 4$"):
        dataclasses.replace(layer, effective_angles=4)
    with pytest.raises(ValueError, match=r"^example must be a batch of one input, got shape \(2, 1, 3, 3\)$"):
        model_work(_tiny_model(), torch.randn(2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"^the forward pass on example ran no QuantumPointwiseConv2d layer$"):
        model_work(nn.Conv2d(1, 1, 1), torch.randn(1, 1, 3, 3))


@pytest.mark.parametrize(("dataset", "side"), [("fashion-mnist", 3), ("cifar10", 4)])
def test_the_papers_quantum_layers_are_read_from_the_built_model(dataset, side):
    from qpconv.replication.hardware import paper_model_work

    work = paper_model_work(dataset)
    # Q(128 -> 64) on 7 qubits, 10 circuits; Q(64 -> 128) on 6 qubits, 22 circuits; both after a ReLU
    assert [(w.n_qubits, w.n_circuits, w.n_layers) for w in work.layers] == [(7, 10, 3), (6, 22, 3)]
    assert {w.pixels_per_image for w in work.layers} == {side * side}
    assert all(w.input_gradient for w in work.layers) and work.amplitudes is Amplitudes.NONNEGATIVE
    assert sum(w.angles for w in work.layers) == 1818 and sum(w.effective_angles for w in work.layers) == 1818 - 202


def _write_run(results, model, seed, seconds, complete=True):
    from qpconv.replication.recipe import TrainingRecipe
    from qpconv.replication.results import RunConfig, RunOutcome, RunStatus, run_path, write_run

    kind, _, depth = model.partition("-L")
    config = RunConfig(
        "fig6_7", "full", model, seed, "cifar10", "cifar10-jpeg-q75", 50000, 10000, None, None, kind,
        "strongly_entangling" if depth else None, int(depth) if depth else None,
        {"total": 1, "quantum": 0, "classical": 1}, TrainingRecipe(epochs=len(seconds) + (0 if complete else 1)),
    )  # fmt: skip
    metrics = [
        {"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0, "test_acc": 0.5, "lr": 0.01, "seconds": s}
        for e, s in enumerate(seconds, start=1)
    ]
    status = RunStatus.COMPLETE if complete else RunStatus.RUNNING
    outcome = RunOutcome(status, len(seconds), sum(seconds), "cpu: test", {"qpconv": "test"})
    write_run(run_path(results, "fig6_7", "full", model, seed), config, outcome, metrics)


def test_recorded_epochs_take_the_median_of_the_complete_runs(tmp_path):
    from qpconv.replication.hardware import recorded_epochs

    _write_run(tmp_path, "quantum-L3", 0, [10.0, 30.0])
    _write_run(tmp_path, "quantum-L3", 1, [20.0, 50.0])
    _write_run(tmp_path, "quantum-L3", 2, [999.0], complete=False)
    _write_run(tmp_path, "classical", 0, [1.0, 1.0])
    recorded = recorded_epochs("fig6_7", results_dir=tmp_path)
    assert (recorded.runs, recorded.train_images, recorded.test_images) == (2, 50000, 10000)
    assert (recorded.seconds_per_epoch, recorded.fastest_epoch, recorded.slowest_epoch) == (25.0, 10.0, 50.0)
    with pytest.raises(ValueError, match=r"^no complete run of 'quantum-L3' is recorded under .*fig6_7/full/quantum-L3$"):
        recorded_epochs("fig6_7", results_dir=tmp_path / "empty")


def test_the_chapter_tables_hold_the_estimate_figures_unchanged():
    from qpconv.replication.hardware import circuit_table, execution_table, qpu_time_table

    layers = [
        LayerWork(2, 1, "strongly_entangling", 2, 4, angles=12, effective_angles=10, input_gradient=False),
        LayerWork(3, 2, "strongly_entangling", 1, 4, angles=18, effective_angles=18, input_gradient=True),
    ]
    estimate = hardware_estimate(layers, train_images=5, test_images=2, cpu_seconds_per_epoch=3.0, shots=10)
    circuits = circuit_table(estimate)
    assert list(circuits.index) == [2, 3]
    assert list(circuits["all gates"]) == [cost.gates for cost in estimate.costs]
    assert list(circuits["depth"]) == [cost.depth for cost in estimate.costs]
    executions = execution_table(estimate)
    assert list(executions["executions"]) == [stage.executions for stage in estimate.stages]
    assert list(executions["executions, layer 2"]) == [stage.per_layer[1] for stage in estimate.stages]
    times = qpu_time_table(estimate)
    assert list(times.index) == [platform.name for platform in QPU_PLATFORMS]
    for time in estimate.epoch_times():
        row = times.loc[time.platform.name]
        assert row["training epoch (years)"] == pytest.approx(time.years)
        assert row["epoch / CPU epoch"] == pytest.approx(time.seconds / 3.0)
        assert row["source"] == time.platform.source_url
