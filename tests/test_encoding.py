"""Amplitude encoding: qubit counts, padding, normalisation, zero vectors, bad input."""

import math

import numpy as np
import pennylane as qml
import pytest
import torch

from qpconv.encoding import MAX_QUBITS, amplitude_encode, check_finite, qubits_for_channels


@pytest.mark.parametrize("channels, expected", [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (64, 6), (65, 7), (128, 7), (16384, 14)])
def test_qubits_for_channels(channels, expected):
    assert qubits_for_channels(channels) == expected


@pytest.mark.parametrize("channels", [1, 3, 4, 6, 16, 37])
def test_encoding_equals_pennylane_amplitude_embedding(channels):
    x = torch.randn(channels, dtype=torch.float64)
    n = qubits_for_channels(channels)
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev)
    def state(v):
        qml.AmplitudeEmbedding(v, wires=range(n), pad_with=0.0, normalize=True)
        return qml.state()

    expected = np.asarray(state(x.numpy()))
    np.testing.assert_allclose(amplitude_encode(x).numpy(), expected.real, atol=1e-14)
    np.testing.assert_allclose(expected.imag, 0.0, atol=1e-14)


def test_encoding_is_normalised_and_scale_invariant():
    x = torch.randn(10, 5, dtype=torch.float64)
    encoded = amplitude_encode(x)
    assert encoded.shape == (10, 8)
    torch.testing.assert_close(encoded.norm(dim=-1), torch.ones(10, dtype=torch.float64))
    torch.testing.assert_close(amplitude_encode(3.7 * x), encoded)


def test_zero_vector_encodes_to_zero_with_finite_gradient():
    x = torch.zeros(2, 6, dtype=torch.float64, requires_grad=True)
    encoded = amplitude_encode(x)
    assert torch.equal(encoded, torch.zeros(2, 8, dtype=torch.float64))
    encoded.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_explicit_register_larger_than_needed_pads_more():
    assert amplitude_encode(torch.ones(3), n_qubits=4).shape == (16,)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_is_rejected(bad):
    x = torch.ones(4)
    x[2] = bad
    with pytest.raises(ValueError, match=r"input contains 1 NaN or infinite value"):
        amplitude_encode(x)


def test_large_finite_input_whose_sum_overflows_is_accepted():
    check_finite(torch.full((4,), 3e38))  # the fast check's sum is inf; the values are finite


def test_register_too_small_is_rejected():
    with pytest.raises(ValueError, match=r"n_qubits=2 holds only 4 amplitudes but in_channels=5 needs at least 3 qubits"):
        amplitude_encode(torch.ones(5), n_qubits=2)


def test_absurd_register_is_rejected_with_reason():
    with pytest.raises(ValueError, match=rf"exceeds the maximum of {MAX_QUBITS}: the exact simulation keeps"):
        qubits_for_channels(2**MAX_QUBITS + 1)


@pytest.mark.parametrize("channels", [0, -3, 2.5])
def test_bad_channel_count_is_rejected(channels):
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        qubits_for_channels(channels)
