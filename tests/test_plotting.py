"""Figures 4-8: what each draws (panels, lines, styles, bands, provenance) from synthetic runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from synthetic_runs import synthetic_run

from qpconv.replication.notebook import runs_overview
from qpconv.replication.plotting import describe_runs, figure_accuracy, figure_depth, figure_loss, runs_frame
from qpconv.replication.results import RunRecord, RunStatus


def record(model: str, seed: int, epochs: int = 3, completed: bool = True) -> RunRecord:
    metrics = [
        {
            "epoch": e,
            "train_loss": 1 / e + seed / 10,
            "train_acc": 0.5 + e / 10,
            "test_loss": 1.2 / e,
            "test_acc": 0.4 + e / 10 + seed / 100,
            "lr": 0.01,
            "seconds": 1.0,
        }
        for e in range(1, epochs + 1)
    ]
    status = RunStatus.COMPLETE if completed else RunStatus.RUNNING
    return synthetic_run(model, seed, metrics, status=status, epochs=epochs + (not completed))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_frame_is_long_with_percent_accuracy():
    frame = runs_frame([record("quantum-L3", 0), record("classical", 0)])
    assert len(frame) == 2 * 3 * 2
    assert set(frame["split"]) == {"train", "test"}
    assert set(frame["label"]) == {"quantum, L = 3", "classical 1x1"}
    row = frame[(frame["model"] == "quantum-L3") & (frame["split"] == "test") & (frame["epoch"] == 2)].iloc[0]
    assert row["accuracy"] == pytest.approx(60.0) and row["family"] == "quantum"


def test_no_finished_epoch_is_a_clear_error():
    with pytest.raises(ValueError, match="no finished epoch in the given runs"):
        runs_frame([record("classical", 0, epochs=0)])


def test_describe_runs_gives_copy_seeds_epochs_device_and_progress():
    text = describe_runs([record("quantum-L3", 0), record("quantum-L3", 1, completed=False)])
    assert text == "full preset; data cifar10-jpeg-q75; seeds 0, 1; 3 epochs; cpu: test; 1 run(s) still in progress"


def test_runs_overview_gives_each_runs_hours_with_the_hardware_that_took_them():
    first = synthetic_run("classical", 0, [{"epoch": 1, "seconds": 3600.0}], device="cpu: Intel")
    second = synthetic_run("classical", 1, [{"epoch": 1, "seconds": 1800.0}], device="cpu: AMD")
    overview = runs_overview([first, second])
    assert overview[["seed", "hours", "device"]].values.tolist() == [[0, 1.0, "cpu: Intel"], [1, 0.5, "cpu: AMD"]]


@pytest.mark.parametrize("draw", [figure_loss, figure_accuracy])
def test_two_model_figures_have_train_and_test_panels_solid_and_dashed_lines_and_bands(draw):
    runs = [record(model, seed) for model in ("quantum-L3", "classical") for seed in (0, 1, 2)]
    fig = draw(runs, "CIFAR-10")
    axes = fig.axes
    assert [ax.get_title().split(", ")[-1] for ax in axes] == ["train", "test"]
    for ax in axes:
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
        styles = sorted(line.get_linestyle() for line in lines)
        assert styles == ["-", "--"], styles
        assert len(ax.collections) == 2  # one band per model (three seeds)
    legend = axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["quantum, L = 3", "classical 1x1"]
    assert [line.get_linestyle() for line in legend.get_lines()] == ["-", "--"]  # the legend shows the dashes too
    assert any("seeds 0, 1, 2" in t.get_text() for t in fig.texts)


def test_one_seed_has_no_band():
    fig = figure_accuracy([record("quantum-L3", 0), record("classical", 0)], "Fashion-MNIST")
    assert all(len(ax.collections) == 0 for ax in fig.axes)


def test_depth_figure_has_one_line_per_depth_and_a_dashed_classical():
    runs = [record(f"quantum-L{n}", 0) for n in (1, 2, 3, 4)] + [record("classical", 0)]
    fig = figure_depth(runs)
    legend = fig.axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "quantum, L = 1",
        "quantum, L = 2",
        "quantum, L = 3",
        "quantum, L = 4",
        "classical 1x1",
    ]
    assert [line.get_linestyle() for line in legend.get_lines()] == ["-", "-", "-", "-", "--"]
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 3]
    assert sorted(line.get_linestyle() for line in lines) == ["-", "-", "-", "-", "--"]


def test_the_device_figure_draws_each_dataset_against_shots_and_refuses_other_kinds():
    import pandas as pd

    from qpconv.replication.plotting import figure_device_conditions
    from qpconv.replication.robustness import ConditionKind

    rows = [
        {"experiment": experiment, "seed": seed, "kind": kind, "shots": shots, "depolarizing": 0.0, "accuracy": accuracy}
        for experiment in ("fig4_5", "fig6_7")
        for seed in (3, 4)
        for kind, shots, accuracy in (("exact", None, 0.9), ("shots", 10, 0.2), ("shots", 100, 0.6))
    ]
    fig = figure_device_conditions(pd.DataFrame(rows), ConditionKind.SHOTS)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["CIFAR-10", "Fashion-MNIST"]
    assert sorted(
        {round(line.get_ydata()[0], 6) for line in ax.lines if len(line.get_ydata()) == 2 and line.get_linestyle() == ":"}
    ) == [90.0]
    with pytest.raises(ValueError, match=r"^the figure plots against shots or depolarising noise, not 'exact'$"):
        figure_device_conditions(pd.DataFrame(rows), ConditionKind.EXACT)
