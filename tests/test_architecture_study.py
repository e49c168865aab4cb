"""The tables and figures of "Beyond the paper's CNN", on synthetic runs and tiny measured sizes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
from synthetic_runs import synthetic_run

from qpconv.bench_scaling import QUICK, ScalingRow, scaling_table
from qpconv.replication.architecture_study import (
    TWINS,
    architectures_table,
    cost_split_table,
    pointwise_timing_table,
    swapped_layers,
    twin_verdicts,
)
from qpconv.replication.claims import compare, summarise
from qpconv.replication.experiments import get_experiment
from qpconv.replication.plotting import figure_pointwise_cost, figure_scaling
from qpconv.replication.results import RunRecord
from qpconv.replication.statistics import Verdict

pytest.importorskip("torchvision")


def run(model: str, seed: int, final_test: float, seconds: float = 50.0) -> RunRecord:
    metrics = [
        {"epoch": e, "train_loss": 1.0, "train_acc": 0.8, "test_loss": 1.0, "test_acc": acc / 100, "lr": 0.01, "seconds": seconds}
        for e, acc in ((1, final_test - 5), (2, final_test))
    ]
    return synthetic_run(model, seed, metrics, experiment="architectures", epochs=2)


def seeds(model: str, values: list[float], seconds: float = 50.0) -> list[RunRecord]:
    return [run(model, seed, value, seconds) for seed, value in enumerate(values)]


RUNS = [
    *seeds("mobilenetv2-classical", [80.0, 80.4, 80.2]),
    *seeds("mobilenetv2-quantum-L3", [78.0, 78.2, 77.9], seconds=80.0),
    *seeds("resnet-classical", [82.0, 82.5]),
]


def test_the_table_has_every_model_its_quantum_layers_and_the_difference_to_its_twin():
    summary = summarise(RUNS)
    table = architectures_table(summary, RUNS)
    assert list(table.index) == [v.name for v in get_experiment("architectures").variants]
    assert table.loc["mobilenetv2-classical", "quantum layers"] == "none"
    assert table.loc["resnet-quantum-L3", "quantum layers"] == "layer3.0.conv3 64->256 (6 qubits, 43 circuits)"
    assert table.loc["mobilenetv2-quantum-L3", "final test"] == "78.03 ± 0.15"
    assert (
        table.loc["mobilenetv2-quantum-L3", "test - classical twin"]
        == compare(summary, "mobilenetv2-quantum-L3", "mobilenetv2-classical").text
    )
    assert table.loc["mobilenetv2-quantum-L3", "s/epoch"] == "80"
    assert table.loc["resnet-quantum-L3", "final test"] == "not recorded"
    assert table.loc["resnet-quantum-L3", "test - classical twin"] == ""  # its own runs are missing
    assert int(table.loc["resnet-classical", "parameters"].replace(",", "")) > int(
        table.loc["resnet-quantum-L3", "parameters"].replace(",", "")
    )


def test_twin_verdicts_follow_the_welch_rule_and_say_not_measured_without_runs():
    verdicts = twin_verdicts(summarise(RUNS))
    assert list(verdicts.index) == list(TWINS)
    assert verdicts.loc["mobilenetv2-quantum-L3", "verdict"] == Verdict.FAILS.value  # clearly worse than its twin
    assert verdicts.loc["mobilenetv2-quantum-L3", "seeds"] == "3/3"
    assert verdicts.loc["resnet-quantum-L3", "verdict"] == Verdict.MISSING.value
    assert verdicts.loc["resnet-quantum-L3", "seeds"] == "0/2"
    assert twin_verdicts(summarise([])).loc["resnet-quantum-L3", "verdict"] == Verdict.MISSING.value


def test_swapped_layers_of_a_classical_network_are_none():
    variants = {v.name: v for v in get_experiment("architectures").variants}
    assert swapped_layers(variants["resnet-classical"]) == "none"
    assert swapped_layers(variants["mobilenetv2-quantum-L3"]).count("7 qubits") == 2


def test_the_measured_tables_cover_every_1x1_and_every_model():
    timings = pointwise_timing_table(batch=1, n_layers=1, repeats=1)
    assert set(timings["network"]) == {"mobilenetv2", "resnet"}
    assert timings["swapped"].sum() == 3  # two in MobileNetV2, one in the ResNet
    assert (timings["quantum_flops_per_pixel"] > timings["classical_flops_per_pixel"]).all()
    assert (timings[["classical_seconds", "quantum_seconds"]] > 0).all().all()
    fig = figure_pointwise_cost(timings, "test")
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "log"]
    split = cost_split_table(batch=1, repeats=1)
    assert list(split.index) == [v.name for v in get_experiment("architectures").variants]
    assert (split.loc[["mobilenetv2-classical", "resnet-classical"], "circuits s"] == 0).all()
    assert (split.loc[list(TWINS), "circuit share"] > 0).all()


def test_the_scaling_figure_draws_one_line_per_depth_and_leaves_skipped_sizes_out():
    rows, _ = scaling_table(QUICK)
    skipped = ScalingRow(12, 1, 4096, 1024, 86, 8, skipped="needs 16 GiB")
    fig = figure_scaling([*rows, skipped], "test")
    left, right = fig.axes
    labels = [line.get_label() for line in left.get_lines()]
    assert [label for label in labels if label.startswith("quantum")] == ["quantum, L = 1", "quantum, L = 2"]
    assert "classical 1x1 conv" in labels
    assert max(max(line.get_xdata()) for line in right.get_lines()) == max(QUICK.qubits)
    shares = pd.concat([pd.Series(line.get_ydata()) for line in right.get_lines()])
    assert len(shares) == len(rows) and (shares > 0).all()  # percent, timed apart (noisy at these tiny sizes)
