"""Gate noise, simulated exactly in the Heisenberg picture, equals PennyLane's default.mixed.

Values and gradients (inputs and angles) to 1e-10 in float64; both ansätze (and the product
one), 1-6 qubits; every channel alone (1-3 qubits) and all combined (1-6 qubits; the global
depolarising channel, 4**n + 1 Kraus operators in PennyLane, up to 4 qubits).
"""

import pytest
import torch

from qpconv import NoiseModel, QuantumPointwiseConv2d, dequantise
from qpconv.dequantise import form_matrices, full_observables
from qpconv.encoding import NonFiniteInputError
from qpconv.noise import MAX_NOISY_QUBITS, noisy_forms, noisy_observables
from qpconv.pennylane_backend import build_noisy_qnode, pennylane_expectations


@pytest.fixture(autouse=True)
def float64_default():
    """PennyLane builds the eigenvalues of RZ and ControlledPhaseShift with torch's default dtype,
    and default.mixed applies diagonal gates through them: complex64 (errors of 1e-8) unless the
    default is float64."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


ALONE = {
    "single_qubit_depolarizing": NoiseModel(single_qubit_depolarizing=0.05),
    "two_qubit_depolarizing": NoiseModel(two_qubit_depolarizing=0.08),
    "amplitude_damping": NoiseModel(amplitude_damping=0.06),
    "readout_flip": NoiseModel(readout_flip=0.07),
    "global_depolarizing": NoiseModel(global_depolarizing=0.2),
}


def combined(n_qubits):
    return NoiseModel(0.02, 0.05, 0.03, 0.04, 0.1 if n_qubits <= 4 else 0.0)


CASES = [
    *[
        (ansatz, n, name, noise)
        for ansatz in ("strongly_entangling", "circuit_centric")
        for n in (1, 2, 3)
        for name, noise in ALONE.items()
    ],
    *[(ansatz, n, "combined", combined(n)) for ansatz in ("strongly_entangling", "circuit_centric") for n in range(1, 7)],
    *[("product", n, "combined", combined(n)) for n in (2, 4)],
]


def noisy_layer(ansatz, n_qubits, noise, n_circuits=1, in_channels=None):
    torch.manual_seed(100 * n_qubits + len(ansatz))
    in_channels = in_channels or max(2, 2**n_qubits - 1)  # not a power of two: the padding matters
    return QuantumPointwiseConv2d(
        in_channels,
        n_circuits * n_qubits,
        n_layers=1 if n_qubits >= 5 else 2,
        ansatz=ansatz,
        n_qubits=n_qubits,
        noise=noise,
        dtype=torch.float64,
    )


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-n{case[1]}-{case[2]}")
def test_values_and_gradients_equal_default_mixed_to_1e10(case):
    ansatz, n_qubits, _, noise = case
    layer = noisy_layer(ansatz, n_qubits, noise)
    pixels = torch.randn(2, layer.in_channels, requires_grad=True)
    cotangent = torch.randn(2, 1, n_qubits)
    ours = layer.expectations(pixels)
    our_pixel_grad, our_weight_grad = torch.autograd.grad((ours * cotangent).sum(), (pixels, layer.weights))

    weights = layer.weights.detach().clone().requires_grad_(True)
    theirs = pennylane_expectations(pixels, weights, build_noisy_qnode(ansatz, n_qubits, noise))
    their_pixel_grad, their_weight_grad = torch.autograd.grad((theirs * cotangent).sum(), (pixels, weights))
    assert (ours - theirs).abs().max() < 1e-10
    assert (our_pixel_grad - their_pixel_grad).abs().max() < 1e-10
    assert (our_weight_grad - their_weight_grad).abs().max() < 1e-10


def test_noise_changes_the_outputs_of_every_channel():
    clean = noisy_layer("strongly_entangling", 3, None, n_circuits=2)
    pixels = torch.randn(5, clean.in_channels)
    for name, noise in ALONE.items():
        layer = noisy_layer("strongly_entangling", 3, noise, n_circuits=2)
        assert (layer.expectations(pixels) - clean.expectations(pixels)).abs().max() > 1e-3, name


@pytest.mark.parametrize("ansatz", ["strongly_entangling", "circuit_centric"])
def test_global_depolarizing_multiplies_every_output_by_one_minus_lambda(ansatz):
    pixels = torch.randn(7, 7)
    clean = noisy_layer(ansatz, 3, None, n_circuits=2).expectations(pixels)
    only_global = noisy_layer(ansatz, 3, NoiseModel(global_depolarizing=0.3), n_circuits=2).expectations(pixels)
    assert (only_global - 0.7 * clean).abs().max() < 1e-15
    gates = NoiseModel(single_qubit_depolarizing=0.01, amplitude_damping=0.02)
    gates_and_global = NoiseModel(single_qubit_depolarizing=0.01, amplitude_damping=0.02, global_depolarizing=0.3)
    with_gates = noisy_layer(ansatz, 3, gates, n_circuits=2).expectations(pixels)
    assert (noisy_layer(ansatz, 3, gates_and_global, n_circuits=2).expectations(pixels) - 0.7 * with_gates).abs().max() < 1e-14


@pytest.mark.parametrize("ansatz", ["strongly_entangling", "circuit_centric", "product"])
def test_zero_noise_equals_the_noiseless_layer(ansatz):
    clean = noisy_layer(ansatz, 4, None, n_circuits=2, in_channels=11)
    pixels = torch.randn(6, 11)
    silent = noisy_layer(ansatz, 4, NoiseModel(), n_circuits=2, in_channels=11)
    assert torch.equal(silent.expectations(pixels), clean.expectations(pixels))
    # the Heisenberg evolution itself, without any channel, gives the noiseless forms
    forms = noisy_forms(ansatz, clean.weights.detach(), 11, NoiseModel()).reshape(-1, 11, 11)
    assert (forms - form_matrices(clean)).abs().max() < 1e-13
    observables = noisy_observables(ansatz, clean.weights.detach(), NoiseModel())  # all 16 x 16 entries
    assert (observables - full_observables(clean)).abs().max() < 1e-13


def test_noisy_forms_are_symmetric_and_dequantise_reproduces_the_noisy_layer():
    noise = NoiseModel(0.02, 0.05, 0.03, 0.04, 0.1)
    layer = noisy_layer("circuit_centric", 3, noise, n_circuits=3, in_channels=6)
    matrices = form_matrices(layer)
    assert matrices.shape == (9, 6, 6)
    assert (matrices - matrices.transpose(1, 2)).abs().max() < 1e-15
    x = torch.randn(2, 6, 3, 3)
    assert (dequantise(layer)(x) - layer(x)).abs().max() < 1e-13
    observables = full_observables(layer)
    assert observables.shape == (3, 3, 8, 8)
    assert (observables - observables.conj().transpose(-1, -2)).abs().max() < 1e-15


def test_noisy_layer_keeps_the_input_contract():
    layer = noisy_layer("strongly_entangling", 2, combined(2), n_circuits=2, in_channels=3)
    x = torch.randn(2, 3, 2, 2)
    x[0, :, 1, 1] = 0
    out = layer(x)
    assert out.shape == (2, 4, 2, 2) and torch.equal(out[0, :, 1, 1], torch.zeros(4))
    assert layer(torch.randn(0, 3, 2, 2)).shape == (0, 4, 2, 2)
    with pytest.raises(ValueError, match=r"^expected 3 input channels, got 4"):
        layer(torch.randn(1, 4, 2, 2))
    with pytest.raises(NonFiniteInputError, match="1 NaN or infinite value"):
        layer(torch.where(torch.arange(12).reshape(1, 3, 2, 2) == 5, torch.nan, torch.ones(1, 3, 2, 2)))
    float32 = QuantumPointwiseConv2d(3, 4, n_layers=1, noise=combined(2), dtype=torch.float32)
    assert float32(torch.randn(1, 3, 2, 2, dtype=torch.float32)).dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"single_qubit_depolarizing": -0.1},
            r"^NoiseModel.single_qubit_depolarizing must be a probability in \[0, 1\], got -0.1$",
        ),
        ({"amplitude_damping": 1.5}, r"^NoiseModel.amplitude_damping must be a probability in \[0, 1\], got 1.5$"),
        ({"readout_flip": float("nan")}, r"^NoiseModel.readout_flip must be a probability in \[0, 1\], got nan$"),
        ({"global_depolarizing": "0.1"}, r"^NoiseModel.global_depolarizing must be a probability in \[0, 1\], got '0.1'$"),
        ({"two_qubit_depolarizing": True}, r"^NoiseModel.two_qubit_depolarizing must be a probability in \[0, 1\], got True$"),
    ],
)
def test_bad_probabilities_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NoiseModel(**kwargs)


def test_bad_noise_arguments_of_the_layer_are_refused():
    with pytest.raises(ValueError, match=r"^noise must be a qpconv.NoiseModel or None, got float$"):
        QuantumPointwiseConv2d(4, 2, noise=0.1)
    with pytest.raises(ValueError, match=r"^noise and shots are simulated by backend='exact', not backend='pennylane'$"):
        QuantumPointwiseConv2d(4, 2, noise=NoiseModel(readout_flip=0.1), backend="pennylane")
    too_many = MAX_NOISY_QUBITS + 1
    with pytest.raises(
        ValueError, match=rf"^noise and shots are simulated for at most {MAX_NOISY_QUBITS} qubits, got n_qubits={too_many}$"
    ):
        QuantumPointwiseConv2d(4, 2, n_qubits=too_many, noise=NoiseModel(amplitude_damping=0.1))
    assert QuantumPointwiseConv2d(4, 2, n_qubits=too_many, noise=NoiseModel(readout_flip=0.1)).n_qubits == too_many
