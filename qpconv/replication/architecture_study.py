"""Beyond the paper's CNN: the tables of the experiment ``architectures``.

Book: Beyond the paper's CNN.

Each network of :data:`~qpconv.replication.architectures.NETWORKS` is trained classical
and with its chosen 1x1 convs made quantum (the same recipe, the paper's). This module
turns the recorded runs and fresh measurements into the chapter's tables:

* :func:`architectures_table`: per model, the swapped layers, parameters, final accuracies
  and the Welch difference of each quantum-swapped network to its classical twin;
* :func:`twin_verdicts`: "the quantum-swapped network is better than its classical twin",
  judged by the rule of :mod:`~qpconv.replication.statistics`;
* :func:`cost_split_table`: how a training step of each network splits between its
  simulated circuits and the rest (measured here, now);
* :func:`pointwise_timing_table`: every plain 1x1 conv of both networks as a classical conv
  and as a quantum layer, modelled and measured, for the cost figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd
import torch

from ..layers import QuantumPointwiseConv2d
from ..surgery import classical_pixel_flops, quantum_pixel_flops
from .architectures import NETWORKS, cost_split, pointwise_costs, time_pointwise
from .claims import compare, has_runs, mean_and_spread
from .controls import seconds_per_epoch
from .experiments import ModelVariant, get_experiment
from .models import parameter_summary
from .results import RunRecord
from .statistics import Verdict, comparison_verdict

__all__ = [
    "EXPERIMENT",
    "TWINS",
    "architectures_table",
    "cost_split_table",
    "pointwise_timing_table",
    "swapped_layers",
    "twin_verdicts",
]

EXPERIMENT = "architectures"
"""The experiment these tables read."""

TWINS: dict[str, str] = {"mobilenetv2-quantum-L3": "mobilenetv2-classical", "resnet-quantum-L3": "resnet-classical"}
"""Each quantum-swapped model's classical twin (run names), the reference of its difference."""


def _variants() -> dict[str, ModelVariant]:
    return {variant.name: variant for variant in get_experiment(EXPERIMENT).variants}


def _build(variant: ModelVariant) -> torch.nn.Module:
    return variant.build(get_experiment(EXPERIMENT).dataset)


def _describe_quantum_layers(model: torch.nn.Module) -> str:
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, QuantumPointwiseConv2d)]
    described = [f"{name} {m.in_channels}->{m.out_channels} ({m.n_qubits} qubits, {m.n_circuits} circuits)" for name, m in layers]
    return "; ".join(described) or "none"


def swapped_layers(variant: ModelVariant) -> str:
    """The quantum layers of a freshly built ``variant``: ``"name C_in->C_out (n qubits, K circuits)"``, or ``"none"``."""
    return _describe_quantum_layers(_build(variant))


def architectures_table(summary: pd.DataFrame, runs: Sequence[RunRecord]) -> pd.DataFrame:
    """The chapter's results table: one row per model of ``architectures``.

    Args:
        summary: :func:`~qpconv.replication.claims.summarise` of the experiment's runs.
        runs: the same runs (for the seconds per epoch).

    Returns:
        Indexed by ``model``; columns ``quantum layers``, ``parameters``, ``seeds``,
        ``final test``, ``final train`` (percent, mean ± sd), ``test - classical twin``
        (Welch difference, 95 % interval and p-value, quantum rows with both recorded) and
        ``s/epoch``. A model with no complete run reads ``not recorded``.
    """
    seconds = seconds_per_epoch(runs)
    rows = []
    for name, variant in _variants().items():
        model = _build(variant)
        recorded = has_runs(summary, name)
        row: dict[str, object] = {
            "model": name,
            "quantum layers": _describe_quantum_layers(model),
            "parameters": f"{parameter_summary(model)['total']:,}",
            "seeds": int(summary.loc[name, "seeds"]) if recorded else 0,
        }
        if recorded:
            s = summary.loc[name]
            row["final test"] = mean_and_spread(s["final_test"], s["final_test_sd"], int(s["seeds"]), digits=2)
            row["final train"] = mean_and_spread(s["final_train"], s["final_train_sd"], int(s["seeds"]), digits=2)
        else:
            row["final test"], row["final train"] = "not recorded", ""
        twin = TWINS.get(name)
        row["test - classical twin"] = compare(summary, name, twin).text if twin and has_runs(summary, name, twin) else ""
        row["s/epoch"] = f"{seconds[name]:.0f}" if name in seconds else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def twin_verdicts(summary: pd.DataFrame) -> pd.DataFrame:
    """For each quantum-swapped network: is it better than its classical twin (final test, Welch, 95 %)?

    Returns:
        Indexed by ``model`` (the quantum one); columns ``twin``, ``seeds`` (``"quantum/classical"``),
        ``difference`` (the Welch text, empty until both are recorded) and ``verdict`` (a
        :class:`~qpconv.replication.statistics.Verdict` value; "not measured" until both are recorded).
    """
    rows = []
    for quantum, classical in TWINS.items():
        seeds = [int(summary.loc[m, "seeds"]) if m in summary.index else 0 for m in (quantum, classical)]
        if has_runs(summary, quantum, classical):
            difference = compare(summary, quantum, classical)
            text, verdict = difference.text, comparison_verdict(difference)
        else:
            text, verdict = "", Verdict.MISSING
        rows.append({"model": quantum, "twin": classical, "seeds": "/".join(map(str, seeds)), "difference": text,
                     "verdict": verdict.value})  # fmt: skip
    return pd.DataFrame(rows).set_index("model")


def cost_split_table(batch: int = 128, repeats: int = 3) -> pd.DataFrame:
    """Measure, for each model of ``architectures`` freshly built, a training step and its circuits' share.

    Forward+backward of a random CIFAR-sized batch on the CPU in this process's torch threads
    (:func:`~qpconv.replication.architectures.cost_split`).

    Returns:
        Indexed by ``model``; columns ``step s`` (the whole network), ``circuits s`` (its
        quantum layers alone) and ``circuit share`` (a fraction).
    """
    rows = []
    for name, variant in _variants().items():
        split = cost_split(_build(variant), batch=batch, repeats=repeats)
        rows.append({"model": name, "step s": split.step_seconds, "circuits s": split.circuit_seconds,
                     "circuit share": split.circuit_share})  # fmt: skip
    return pd.DataFrame(rows).set_index("model")


def pointwise_timing_table(batch: int = 16, n_layers: int = 3, repeats: int = 3) -> pd.DataFrame:
    """Every plain 1x1 conv of each classical network of ``architectures``, modelled and measured.

    Returns:
        One row per (network, conv): ``network``, ``name``, ``in_channels``, ``out_channels``,
        ``n_qubits``, ``pixels`` (of the timed batch), ``classical_seconds``,
        ``quantum_seconds`` (forward+backward, :func:`~qpconv.replication.architectures.time_pointwise`),
        the modelled forward ``quantum_flops_per_pixel`` and ``classical_flops_per_pixel``
        (:func:`qpconv.surgery.quantum_pixel_flops`, :func:`~qpconv.surgery.classical_pixel_flops`),
        and ``swapped`` (whether the network's quantum twin makes that conv quantum).
    """
    variants = _variants()
    rows = []
    for quantum, classical in TWINS.items():
        model = _build(variants[classical])
        costs = pointwise_costs(model, n_layers=n_layers)
        swap_rule = NETWORKS[variants[quantum].kind].swapped
        swapped = set(swap_rule(model)) if swap_rule is not None else set()
        network = variants[classical].kind.removesuffix("-classical")
        for timing in time_pointwise(costs, batch=batch, n_layers=n_layers, repeats=repeats):
            rows.append(
                {
                    "network": network,
                    **asdict(timing),
                    "quantum_flops_per_pixel": quantum_pixel_flops(timing.in_channels, timing.n_qubits, timing.n_circuits),
                    "classical_flops_per_pixel": classical_pixel_flops(timing.in_channels, timing.out_channels),
                    "swapped": timing.name in swapped,
                }
            )
    return pd.DataFrame(rows)
