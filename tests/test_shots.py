"""Finite shots: sample means with the right mean, variance and correlations, PennyLane's outcome distribution.

Statistical tests use fixed seeds (so they are deterministic) and tolerances of about five
standard errors of the tested statistic, stated in each test.
"""

import math

import pytest
import torch
from scipy import stats

from qpconv import NoiseModel, QuantumPointwiseConv2d
from qpconv.pennylane_backend import build_noisy_sampler
from qpconv.shots import flip_readout, outcome_probabilities, sample_counts

NOISE = NoiseModel(0.02, 0.05, 0.03, 0.04, 0.1)


def make_layer(shots=None, noise=None, seed=0, generator_seed=None, ansatz="strongly_entangling"):
    torch.manual_seed(seed)
    generator = None if generator_seed is None else torch.Generator().manual_seed(generator_seed)
    return QuantumPointwiseConv2d(
        7, 6, n_layers=2, ansatz=ansatz, noise=noise, shots=shots, generator=generator, dtype=torch.float64
    )


def test_sample_counts_are_multinomial_counts():
    probabilities = torch.tensor([[0.5, 0.0, 0.2, 0.3], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    counts = sample_counts(probabilities.expand(2000, 2, 4), 100, torch.Generator().manual_seed(1))
    assert torch.equal(counts.sum(dim=-1), torch.full((2000, 2), 100.0, dtype=torch.float64))
    assert counts[:, 0, 1].max() == 0 and torch.equal(counts[:, 1, 3], torch.full((2000,), 100.0, dtype=torch.float64))
    # mean 100 p, covariance 100 (diag(p) - p p^T); 2000 draws: standard errors <= 0.11 and <= 0.5
    mean, cov = counts[:, 0].mean(dim=0), torch.cov(counts[:, 0].T)
    p = probabilities[0]
    assert (mean - 100 * p).abs().max() < 0.6
    assert (cov - 100 * (torch.diag(p) - torch.outer(p, p))).abs().max() < 2.5


def test_readout_flips_flip_every_bit_with_their_probability():
    counts = torch.zeros(4000, 4, dtype=torch.float64)
    counts[:, 0] = 50  # every run measured |00>
    flipped = flip_readout(counts, 0.1, torch.Generator().manual_seed(2))
    assert torch.equal(flipped.sum(dim=-1), counts.sum(dim=-1))
    expected = 50 * torch.tensor([0.81, 0.09, 0.09, 0.01], dtype=torch.float64)  # independent flips of both bits
    assert (flipped.mean(dim=0) - expected).abs().max() < 0.1  # standard errors <= 0.033
    assert torch.equal(flip_readout(counts, 0.0), counts)


@pytest.mark.parametrize(
    "noise", [None, NoiseModel(readout_flip=0.05, global_depolarizing=0.1), NOISE], ids=["noiseless", "end", "all"]
)
def test_sample_means_converge_to_the_exact_expectations(noise):
    shots = 10**6
    layer = make_layer(shots, noise, generator_seed=3)
    exact = make_layer(None, noise)
    pixels = torch.randn(4, 7, dtype=torch.float64)
    estimate, expected = layer.expectations(pixels), exact.expectations(pixels)
    standard_error = ((1 - expected.square()) / shots).sqrt()
    assert ((estimate - expected).abs() <= 5 * standard_error + 1e-12).all()  # 5 sigma: 24 values
    assert (estimate - expected).abs().max() > 0  # they are samples, not the expectations


@pytest.mark.parametrize("noise", [None, NOISE], ids=["noiseless", "noisy"])
def test_variance_and_correlations_of_the_estimates_are_those_of_shared_bitstrings(noise):
    shots, repeats = 40, 4000
    layer = make_layer(shots, noise, generator_seed=4)
    pixel = torch.randn(1, 7, dtype=torch.float64)
    estimates = layer.expectations(pixel.expand(repeats, 7))[:, 0]  # (repeats, n): circuit 0
    # exact covariance of one run's Z values (read-out flips included), from the outcome distribution
    probabilities = outcome_probabilities(pixel, layer.ansatz, layer.weights.detach(), noise)[0, 0]  # (8,)
    scale = 1 - 2 * (noise.readout_flip if noise is not None else 0.0)  # independent flips of each bit
    signs = torch.tensor([[1 - 2 * ((b >> (2 - i)) & 1) for i in range(3)] for b in range(8)], dtype=torch.float64)
    second = scale**2 * torch.einsum("b,bi,bj->ij", probabilities, signs, signs)
    second.fill_diagonal_(1.0)  # Z_i^2 = 1
    first = scale * (probabilities @ signs)
    covariance = (second - torch.outer(first, first)) / shots
    assert (torch.diagonal(covariance) - (1 - first.square()) / shots).abs().max() < 1e-15
    sample = torch.cov(estimates.T)
    # relative standard error of a sample variance from 4000 repeats: sqrt(2 / 4000) = 2.2%
    assert ((torch.diagonal(sample) / torch.diagonal(covariance)) - 1).abs().max() < 0.11
    # off-diagonal: standard error <= sqrt(var_i var_j / repeats) <= 0.025 / 40
    assert (sample - covariance).abs().max() < 5 * 0.025 / shots
    assert (estimates.mean(dim=0) - first).abs().max() < 5 * math.sqrt(1 / (shots * repeats))


@pytest.mark.parametrize("ansatz", ["strongly_entangling", "circuit_centric"])
def test_outcome_distribution_equals_pennylane_default_mixed_with_shots(ansatz):
    shots = 20000
    layer = make_layer(None, NOISE, seed=5, ansatz=ansatz)
    pixel = torch.randn(1, 7, dtype=torch.float64)
    weights = layer.weights.detach()
    ours = sample_counts(outcome_probabilities(pixel, ansatz, weights, NOISE)[0, 0], shots, torch.Generator().manual_seed(6))
    ours = flip_readout(ours, NOISE.readout_flip, torch.Generator().manual_seed(7))
    bits = build_noisy_sampler(ansatz, 3, NOISE, shots, seed=8)(pixel[0], weights[0])
    theirs = torch.bincount(bits.long() @ torch.tensor([4, 2, 1]), minlength=8).to(torch.float64)
    table = torch.stack([ours, theirs]).numpy()
    p_value = stats.chi2_contingency(table[:, table.sum(axis=0) > 0])[1]
    assert p_value > 1e-3  # two-sample chi-square test of homogeneity, 7 degrees of freedom


def test_same_seed_same_outputs_other_seed_other_outputs():
    x = torch.randn(2, 7, 3, 3, dtype=torch.float64)
    first, again, other = (make_layer(100, NOISE, generator_seed=s)(x) for s in (9, 9, 10))
    assert torch.equal(first, again) and not torch.equal(first, other)
    layer = make_layer(100)  # no generator: torch's global one
    torch.manual_seed(12)
    a = layer(x)
    torch.manual_seed(12)
    assert torch.equal(a, layer(x))


def test_outputs_are_sample_means_in_training_and_evaluation_and_zero_for_zero_pixels():
    layer = make_layer(50, generator_seed=13)
    x = torch.randn(2, 7, 2, 2, dtype=torch.float64)
    x[1, :, 0, 1] = 0
    for mode in (layer.train, layer.eval):
        mode()
        out = layer(x)
        assert ((out * 25) - (out * 25).round()).abs().max() < 1e-12  # multiples of 2 / shots
        assert torch.equal(out[1, :, 0, 1], torch.zeros(6, dtype=torch.float64))
        assert (out - make_layer(None)(x)).abs().max() > 0


@pytest.mark.parametrize("noise", [None, NOISE], ids=["noiseless", "noisy"])
def test_gradient_is_the_exact_gradient_of_the_expectations(noise):
    sampled, exact = make_layer(64, noise, generator_seed=14), make_layer(None, noise)
    x = torch.randn(2, 7, 2, 2, dtype=torch.float64, requires_grad=True)
    cotangent = torch.randn(2, 6, 2, 2, dtype=torch.float64)
    out = sampled(x)
    with torch.no_grad():
        assert torch.equal(out, make_layer(64, noise, generator_seed=14)(x))  # the forward value is the sample mean
    grads = torch.autograd.grad((out * cotangent).sum(), (x, sampled.weights))
    expected = torch.autograd.grad((exact(x) * cotangent).sum(), (x, exact.weights))
    for ours, theirs in zip(grads, expected):
        assert (ours - theirs).abs().max() < 1e-13


@pytest.mark.parametrize("shots", [0, -5, 2.5, True, "100"])
def test_bad_shots_are_refused(shots):
    with pytest.raises(ValueError, match=rf"^shots must be a positive integer or None, got {shots!r}$"):
        QuantumPointwiseConv2d(4, 2, shots=shots)


def test_bad_generator_and_backend_are_refused():
    with pytest.raises(ValueError, match=r"^generator must be a torch.Generator or None, got int$"):
        QuantumPointwiseConv2d(4, 2, shots=10, generator=0)
    with pytest.raises(ValueError, match=r"^noise and shots are simulated by backend='exact', not backend='pennylane'$"):
        QuantumPointwiseConv2d(4, 2, shots=10, backend="pennylane")
