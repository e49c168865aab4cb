"""A trained model under a device's conditions: hardware_conditions, the conditions of the chapter, fine-tuning.

Book: "On a real quantum computer".
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qpconv import NoiseModel, QuantumPointwiseConv2d
from qpconv.hardware_conditions import hardware_conditions, quantum_layers
from qpconv.noise import MAX_NOISY_QUBITS
from qpconv.replication.models import build_model
from qpconv.replication.robustness import (
    CONDITIONS,
    DEPOLARIZING,
    SHOT_COUNTS,
    ConditionKind,
    DeviceCondition,
    FineTuning,
    _top,
    _with_fixed_forms,
    condition_accuracies,
    feature_maps,
    fine_tune_top,
)

DEVICE_LIKE = NoiseModel(single_qubit_depolarizing=1e-2, two_qubit_depolarizing=2e-2, readout_flip=0.01)


def small_model() -> nn.Sequential:
    return nn.Sequential(
        QuantumPointwiseConv2d(8, 6, n_layers=2, dtype=torch.float64),
        nn.ReLU(),
        QuantumPointwiseConv2d(6, 4, n_layers=1, dtype=torch.float64),
    )


def test_inside_the_block_every_layer_computes_as_a_layer_built_with_the_noise_and_after_it_as_before():
    model = small_model()
    x = torch.randn(3, 8, 2, 2, dtype=torch.float64)
    before = model(x)
    built = nn.Sequential(
        QuantumPointwiseConv2d(8, 6, n_layers=2, dtype=torch.float64, noise=DEVICE_LIKE),
        nn.ReLU(),
        QuantumPointwiseConv2d(6, 4, n_layers=1, dtype=torch.float64, noise=DEVICE_LIKE),
    )
    built.load_state_dict(model.state_dict())
    with hardware_conditions(model, noise=DEVICE_LIKE) as layers:
        assert layers == [model[0], model[2]]
        torch.testing.assert_close(model(x), built(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(model(x), before, rtol=0, atol=0)


def test_the_layers_get_back_what_they_had_also_when_the_block_raises():
    generator = torch.Generator()
    layer = QuantumPointwiseConv2d(4, 2, n_layers=1, shots=50, generator=generator, noise=NoiseModel(readout_flip=0.1))
    with pytest.raises(RuntimeError, match="inside"), hardware_conditions(layer, noise=None, shots=None):
        assert layer.shots is None and layer.noise is None and layer.generator is None
        raise RuntimeError("inside")
    assert (layer.shots, layer.noise, layer.generator) == (50, NoiseModel(readout_flip=0.1), generator)


def test_shots_drawn_with_the_same_seed_are_the_same():
    model = small_model()
    x = torch.randn(2, 8, 3, 3, dtype=torch.float64)
    draws = []
    for _ in range(2):
        with hardware_conditions(model, shots=64, generator=torch.Generator().manual_seed(7)):
            draws.append(model(x))
    torch.testing.assert_close(draws[0], draws[1], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        (nn.Linear(2, 2), {"shots": 10}, "hardware_conditions: the model has no QuantumPointwiseConv2d layer"),
        (QuantumPointwiseConv2d(4, 2), {"shots": 0}, "shots must be a positive integer or None, got 0"),
        (QuantumPointwiseConv2d(4, 2), {"noise": 0.1}, "noise must be a qpconv.NoiseModel or None, got float"),
        (QuantumPointwiseConv2d(4, 2), {"generator": 3}, "generator must be a torch.Generator or None, got int"),
        (
            QuantumPointwiseConv2d(4, 2, n_qubits=MAX_NOISY_QUBITS + 1),
            {"shots": 10},
            f"noise and shots are simulated for at most {MAX_NOISY_QUBITS} qubits, got n_qubits={MAX_NOISY_QUBITS + 1}",
        ),
    ],
)
def test_a_bad_argument_is_one_clear_error_and_changes_nothing(model, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"), hardware_conditions(model, **kwargs):
        pass
    assert all(layer.shots is None and layer.noise is None for layer in quantum_layers(model))


def test_the_chapter_conditions_hold_the_issue_values_once_each():
    kinds = {condition.kind for condition in CONDITIONS}
    assert kinds == set(ConditionKind)
    assert {c.shots for c in CONDITIONS if c.kind is ConditionKind.SHOTS} == set(SHOT_COUNTS) >= {10, 100, 1000, 10000}
    assert {c.depolarizing for c in CONDITIONS if c.kind is ConditionKind.DEPOLARIZING} == set(DEPOLARIZING) >= {1e-4, 1e-3, 1e-2}
    assert len(set(CONDITIONS)) == len(CONDITIONS)
    noise = DeviceCondition(depolarizing=1e-3).noise
    assert noise == NoiseModel(single_qubit_depolarizing=1e-3, two_qubit_depolarizing=1e-3)
    assert DeviceCondition(shots=10).noise is None


@pytest.fixture(scope="module")
def cifar_model_and_data():
    torch.manual_seed(0)
    model = build_model("cifar10", "quantum", n_layers=1)
    images, labels = torch.randn(40, 3, 32, 32), torch.randint(0, 10, (40,))
    return model.eval(), feature_maps(model, images), labels, images


def test_the_exact_condition_scores_the_model_as_it_is(cifar_model_and_data):
    model, features, labels, images = cifar_model_and_data
    with torch.no_grad():
        expected = (model(images).argmax(dim=1) == labels).float().mean().item()
    (row,) = condition_accuracies(model, features, labels, (DeviceCondition(),))
    assert row == {"kind": "exact", "shots": None, "depolarizing": 0.0, "accuracy": pytest.approx(expected)}


def test_fixed_forms_compute_what_the_noisy_circuits_compute(cifar_model_and_data):
    model, features, _, _ = cifar_model_and_data
    noise = DeviceCondition(depolarizing=0.05).noise
    forms = _with_fixed_forms(_top(model), noise).eval()
    with torch.no_grad(), hardware_conditions(model, noise=noise):
        torch.testing.assert_close(forms(features), _top(model)(features), rtol=1e-4, atol=1e-5)


def test_fine_tuning_keeps_the_model_and_the_circuits_and_changes_the_classical_top(cifar_model_and_data):
    model, features, labels, _ = cifar_model_and_data
    state = {key: value.clone() for key, value in model.state_dict().items()}
    tuned = fine_tune_top(
        model, features, labels, DeviceCondition(depolarizing=0.03).noise, seed=0, recipe=FineTuning(epochs=1, batch_size=8)
    )
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    changed = {key for key, value in tuned.state_dict().items() if not torch.equal(value, state[key])}
    assert changed and all(not key.startswith("features.") and not key.endswith("weights") for key in changed)
    assert any(key.startswith("head.") for key in changed) and any(key.startswith("pointwise.") for key in changed)
    assert all(layer.noise is None for layer in quantum_layers(tuned))
