"""Finite shots: the layer's outputs estimated from sampled bitstrings, as a device measures them.

Book: "On a real quantum computer".

On hardware every circuit runs ``shots`` times per pixel; each run ends in one bitstring
``b`` of ``n`` bits, and ``<Z_i>`` is estimated by the mean of ``1 - 2 b_i`` over the runs.
Here, per pixel and circuit:

1. the ``2**n`` outcome probabilities: ``|U x|^2 / ||x||^2`` noiselessly, with gate noise
   the forms of the projectors ``|b><b|`` evolved backwards (:func:`qpconv.noise.outcome_forms`),
   then the global depolarising mixture ``(1 - lam) p + lam / 2**n``;
2. the counts of the outcomes over ``shots`` runs, drawn exactly from the multinomial
   distribution by binary splitting over the wires: ``n`` binomial draws, each for all pixels
   and circuits at once (no loop over pixels; memory ``O(2**n)`` per pixel, whatever ``shots``);
3. read-out flips on the sampled bits: every bit of every run flips with probability ``f``
   (one binomial draw per wire);
4. the estimates ``<Z_i> ~ sum_b counts_b (1 - 2 b_i) / shots``: the ``n`` estimates of a
   circuit come from the same bitstrings, so they are correlated as on hardware. Each has
   mean ``<Z_i>`` and variance ``(1 - <Z_i>^2) / shots``.

The draws use ``generator`` (a ``torch.Generator`` on the pixels' device) or torch's
global generator, so a seed reproduces them. All-zero pixels give 0, as without shots.
"""

from __future__ import annotations

import torch

from .circuits import Ansatz, circuit_columns
from .noise import NoiseModel, outcome_forms
from .quadratic import normalise_rows, quadratic_form
from .simulation import stacked_real_columns, z_signs

__all__ = ["check_shots", "flip_readout", "outcome_probabilities", "sample_counts", "sampled_expectations", "z_estimates"]


def check_shots(shots: object) -> None:
    """Raise ``ValueError`` unless ``shots`` is ``None`` or a positive integer."""
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise ValueError(f"shots must be a positive integer or None, got {shots!r}")


def sample_counts(probabilities: torch.Tensor, shots: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Multinomial counts of ``shots`` draws from each distribution over ``2**n`` outcomes.

    Drawn wire by wire: the runs of each outcome prefix of wires ``0..w-1`` are split between
    the prefixes' two continuations by one binomial draw, with the conditional probability of
    bit ``w`` being 0. After ``n`` draws the counts have exactly the multinomial distribution.

    Args:
        probabilities: real ``(..., 2**n)``, each row summing to 1 (rounding errors and tiny
            negatives are tolerated; a row of zeros is drawn uniformly).
        shots: runs per row, positive.
        generator: random source, on the device of ``probabilities``; default torch's global one.

    Returns:
        ``(..., 2**n)`` counts as floats of ``probabilities``' dtype, each row summing to ``shots``.

    Example::

        >>> counts = sample_counts(torch.tensor([[0.5, 0.0, 0.25, 0.25]]), 1000, torch.Generator().manual_seed(0))
        >>> int(counts.sum()), int(counts[0, 1])
        (1000, 0)
    """
    check_shots(shots)
    *leading, dim = probabilities.shape
    n_qubits = dim.bit_length() - 1
    rows = probabilities.detach().clamp_min(0).reshape(-1, dim)
    counts = rows.new_full((rows.shape[0], 1), float(shots))
    for wire in range(n_qubits):
        split = rows.reshape(rows.shape[0], 2**wire, 2, dim >> (wire + 1)).sum(dim=-1)  # (rows, prefixes, bit w)
        total = split.sum(dim=-1)
        share_of_zero = torch.where(total > 0, split[..., 0] / torch.where(total > 0, total, 1), 0.5).clamp(0, 1)
        zeros = torch.binomial(counts, share_of_zero, generator=generator)
        counts = torch.stack([zeros, counts - zeros], dim=-1).reshape(rows.shape[0], 2 ** (wire + 1))
    return counts.reshape(*leading, dim)


def flip_readout(counts: torch.Tensor, flip: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Counts after every bit of every run flipped independently with probability ``flip``.

    Args:
        counts: ``(..., 2**n)`` outcome counts (floats), e.g. from :func:`sample_counts`.
        flip: the read-out error probability, in ``[0, 1]``.
        generator: as for :func:`sample_counts`.

    Returns:
        ``(..., 2**n)`` counts with the same row sums.
    """
    if not flip:
        return counts
    dim = counts.shape[-1]
    index = torch.arange(dim, device=counts.device)
    probability = torch.full_like(counts, flip)
    for wire in range(dim.bit_length() - 1):
        moved = torch.binomial(counts, probability, generator=generator)  # runs of outcome b whose bit w flips
        counts = counts - moved + moved[..., index ^ (dim >> (wire + 1))]
    return counts


def z_estimates(counts: torch.Tensor, shots: int) -> torch.Tensor:
    """Sample means of ``Z_i``: ``(..., 2**n)`` counts -> ``(..., n)``, ``sum_b counts_b (1 - 2 b_i) / shots``."""
    dim = counts.shape[-1]
    return counts @ z_signs(dim.bit_length() - 1, counts.dtype, counts.device) / shots


def outcome_probabilities(
    pixels: torch.Tensor, ansatz: str | Ansatz, weights: torch.Tensor, noise: NoiseModel | None = None
) -> torch.Tensor:
    """Probabilities of the ``2**n`` outcomes (before read-out flips) of every circuit on every pixel.

    Args:
        pixels: real ``(P, C)``.
        ansatz: name or :class:`~qpconv.circuits.Ansatz`.
        weights: ``(K, L, n, p)``, same dtype as ``pixels``.
        noise: gate channels and global depolarising (read-out flips are not applied here).

    Returns:
        ``(P, K, 2**n)``, rows summing to 1 (0 for all-zero pixels without global
        depolarising); computed without gradient.
    """
    n_circuits, n_qubits, channels = weights.shape[0], weights.shape[2], pixels.shape[1]
    dim = 2**n_qubits
    with torch.no_grad():
        if noise is not None and noise.gate_noise:
            forms = outcome_forms(ansatz, weights, channels, noise).reshape(-1, channels, channels)
            probabilities = quadratic_form(pixels, forms).view(-1, n_circuits, dim)
        else:
            stacked = stacked_real_columns(circuit_columns(ansatz, weights, channels))  # (K * 2 * 2**n, C)
            amplitudes = (normalise_rows(pixels) @ stacked.T).view(-1, n_circuits, 2, dim)
            probabilities = amplitudes.square().sum(dim=2)
        if noise is not None and noise.global_depolarizing:
            probabilities = (1 - noise.global_depolarizing) * probabilities + noise.global_depolarizing / dim
    return probabilities


def sampled_expectations(
    pixels: torch.Tensor,
    ansatz: str | Ansatz,
    weights: torch.Tensor,
    shots: int,
    noise: NoiseModel | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``<Z_i>`` of every circuit on every pixel, estimated from ``shots`` sampled runs each.

    Args:
        pixels, ansatz, weights, noise: as for :func:`outcome_probabilities`.
        shots: runs per pixel and circuit.
        generator: as for :func:`sample_counts`.

    Returns:
        ``(P, K, n)`` sample means (multiples of ``2 / shots`` in ``[-1, 1]``), 0 for all-zero
        pixels; no gradient (see :class:`~qpconv.layers.QuantumPointwiseConv2d` for the
        straight-through gradient of the layer).
    """
    check_shots(shots)
    counts = sample_counts(outcome_probabilities(pixels, ansatz, weights, noise), shots, generator)
    counts = flip_readout(counts, noise.readout_flip if noise is not None else 0.0, generator)
    nonzero = (pixels.detach() != 0).any(dim=1).to(counts.dtype).reshape(-1, 1, 1)
    return z_estimates(counts, shots) * nonzero
