"""The paper's Figs. 4-8 redrawn from recorded runs, one function per figure, and the figures of the chapters beyond it.

Book: Replicating Figs. 4-5, Replicating Figs. 6-7, Replicating Fig. 8, What makes it work?, On a real quantum computer,
Beyond the paper's CNN.

Every figure takes the runs of one experiment (:func:`~qpconv.replication.experiments.load_runs`) and
draws per-epoch curves in two panels sharing the y axis, **train** (left: the epoch's mean over its
training batches, in train mode) and **test** (right: the whole test set after the
epoch, in eval mode). As in the paper, quantum models are solid lines and the
classical model is dashed. With several seeds a line is the mean over seeds and the
band around it spans one standard deviation (seaborn ``errorbar="sd"``); with one seed
there is no band. Each figure carries a footnote saying which data copy, how many
seeds and epochs, and which hardware produced it (:func:`describe_runs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..bench_scaling import ScalingRow
from .results import RunRecord, RunStatus, metrics_table
from .robustness import ConditionKind
from .statistics import LEVEL, mean_interval

__all__ = [
    "describe_runs",
    "figure_accuracy",
    "figure_blocks",
    "figure_depth",
    "figure_device_conditions",
    "figure_loss",
    "figure_pointwise_cost",
    "figure_scaling",
    "runs_frame",
]

SPLITS = ("train", "test")
"""Metric prefixes, one panel each, left to right; also the panel titles' suffixes."""
DASHES = {"quantum": "", "classical": (5, 2)}
"""Line style by model family: quantum solid, classical dashed, as in the paper."""
MODEL_LABELS = {"classical": "classical 1x1"}


def _model_label(model: str) -> str:
    """``quantum-L3`` -> ``quantum, L = 3``; ``classical`` -> ``classical 1x1``."""
    if model.startswith("quantum-L"):
        return f"quantum, L = {model.removeprefix('quantum-L')}"
    return MODEL_LABELS.get(model, model)


def runs_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """Runs as a long table for seaborn: one row per (run, epoch, split).

    Book: Replicating Figs. 4-5.

    Args:
        runs: records from :func:`~qpconv.replication.experiments.load_runs`.

    Returns:
        Columns ``model`` (run folder name), ``label`` (legend text), ``family``
        (``"quantum"``/``"classical"``), ``seed``, ``epoch``, ``split`` (``"train"``/
        ``"test"``), ``loss`` and ``accuracy`` (percent).

    Diverged runs are left out (their curves stop where they failed and would drag the
    mean); :func:`describe_runs` names them in the footnote.

    Raises:
        ValueError: ``runs`` is empty or none of them has a finished epoch.
    """
    rows = metrics_table([run for run in runs if not run.diverged])
    if not rows:
        raise ValueError("no finished epoch in the given runs: nothing to plot (run `qpconv run ...` first)")
    table = pd.DataFrame(rows)
    frames = []
    for split in SPLITS:
        part = table[["model", "seed", "epoch"]].copy()
        part["split"] = split
        part["loss"] = table[f"{split}_loss"]
        part["accuracy"] = 100 * table[f"{split}_acc"]
        frames.append(part)
    long = pd.concat(frames, ignore_index=True)
    long["family"] = long["model"].map(lambda model: "quantum" if model.startswith("quantum") else "classical")
    long["label"] = long["model"].map(_model_label)
    return long


def describe_runs(runs: Sequence[RunRecord]) -> str:
    """One line of provenance for a caption: preset, data copy, seeds, epochs, hardware, completeness.

    Book: Replicating Figs. 4-5.

    Example: ``"full preset; data cifar10-jpeg-q75; seeds 0, 1, 2; 20 epochs; cpu: AMD EPYC, 1 torch threads"``.
    """
    if not runs:
        return "no runs"
    configs = [run.config for run in runs]
    copies = sorted({config.dataset_copy for config in configs})
    seeds = sorted({config.seed for config in configs})
    epochs = sorted({len(run.metrics) for run in runs if not run.diverged}) or sorted({len(run.metrics) for run in runs})
    devices = sorted({run.outcome.device for run in runs})
    presets = sorted({config.preset for config in configs})
    in_progress = sum(run.outcome.status is RunStatus.RUNNING for run in runs)
    diverged = [f"{run.config.model} seed {run.config.seed}" for run in runs if run.diverged]
    epoch_text = f"{epochs[0]} epochs" if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]} epochs"
    seed_text = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
    text = f"{'/'.join(presets)} preset; data {', '.join(copies)}; {seed_text}; {epoch_text}; {' / '.join(devices)}"
    text += f"; {in_progress} run(s) still in progress" if in_progress else ""
    return text + (f"; diverged, not drawn: {', '.join(diverged)}" if diverged else "")


def _curves(frame: pd.DataFrame, value: str, ylabel: str, title: str, palette: dict[str, Any]) -> Figure:
    """Train and test panels of ``value`` per epoch, one line per model, bands over seeds."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.15)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True, sharey=True)
    labels = list(dict.fromkeys(frame["label"]))
    family = dict(zip(frame["label"], frame["family"]))
    several_seeds = frame.groupby("model")["seed"].nunique().max() > 1
    for ax, split in zip(axes, SPLITS):
        sns.lineplot(
            data=frame[frame["split"] == split],
            x="epoch",
            y=value,
            hue="label",
            hue_order=labels,
            style="label",
            style_order=labels,
            dashes={label: DASHES[family[label]] for label in labels},
            palette=palette,
            errorbar="sd" if several_seeds else None,
            ax=ax,
            legend=ax is axes[-1],
        )
        ax.set(title=f"{title}, {split}", xlabel="epoch", ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].legend(frameon=False, fontsize=10)
    return fig


def _annotate(fig: Figure, runs: Sequence[RunRecord]) -> Figure:
    fig.text(0.01, -0.02, describe_runs(runs), fontsize=10, color="0.35", ha="left", va="top")
    fig.tight_layout()
    return fig


def _two_model_palette(frame: pd.DataFrame) -> dict[str, str]:
    return {label: ("C0" if label.startswith("quantum") else "C3") for label in frame["label"].unique()}


def figure_loss(runs: Sequence[RunRecord], dataset_title: str) -> Figure:
    """Fig. 4 (Fashion-MNIST) or Fig. 6 (CIFAR-10): cross-entropy loss per epoch.

    Book: Replicating Figs. 4-5.

    Args:
        runs: the experiment's runs (``fig4_5`` or ``fig6_7``).
        dataset_title: e.g. ``"Fashion-MNIST"``, used in the panel titles.

    Returns:
        The figure: train loss (left) and test loss (right), quantum solid, classical dashed.
    """
    frame = runs_frame(runs)
    return _annotate(_curves(frame, "loss", "cross-entropy loss", f"{dataset_title} loss", _two_model_palette(frame)), runs)


def figure_accuracy(runs: Sequence[RunRecord], dataset_title: str) -> Figure:
    """Fig. 5 (Fashion-MNIST) or Fig. 7 (CIFAR-10): accuracy per epoch, in percent.

    Book: Replicating Figs. 4-5.

    Returns:
        The figure: train accuracy (left) and test accuracy (right).
    """
    frame = runs_frame(runs)
    return _annotate(_curves(frame, "accuracy", "accuracy (%)", f"{dataset_title} accuracy", _two_model_palette(frame)), runs)


def figure_depth(runs: Sequence[RunRecord]) -> Figure:
    """Fig. 8: CIFAR-10 accuracy per epoch for 1-4 entangling blocks, classical dashed.

    Book: Replicating Fig. 8.

    Returns:
        The figure: train accuracy (left) and test accuracy (right); quantum depths in a
        sequential palette (darker = more blocks), the classical model dashed in grey.
    """
    frame = runs_frame(runs)
    quantum = sorted(label for label in frame["label"].unique() if label.startswith("quantum"))
    palette = dict(zip(quantum, sns.color_palette("viridis_r", len(quantum) + 1)[1:]))
    palette.update({label: "0.3" for label in frame["label"].unique() if label not in palette})
    return _annotate(_curves(frame, "accuracy", "accuracy (%)", "CIFAR-10 accuracy by depth", palette), runs)


def figure_blocks(runs: Sequence[RunRecord], order: Sequence[str], reference: str, title: str) -> Figure:
    """Final test accuracy per block: every seed a point, the mean with its 95 % t interval.

    Book: What makes it work?

    Args:
        runs: runs of one experiment; complete runs are drawn, diverged ones are counted in
            the block's label, runs in progress are left out.
        order: the blocks (run names), top to bottom; a block with no complete run keeps its
            row, labelled "not recorded" (or with its diverged runs).
        reference: the block whose mean is drawn as a vertical line (the quantum block).
        title: the figure's title.

    Returns:
        The figure; its footnote is :func:`describe_runs` of ``runs``.
    """
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.15)
    finals: dict[str, list[float]] = {model: [] for model in order}
    diverged = dict.fromkeys(order, 0)
    for run in runs:
        if run.config.model not in finals:
            continue
        if run.diverged:
            diverged[run.config.model] += 1
        elif run.completed:
            finals[run.config.model].append(100 * run.metrics[-1]["test_acc"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(order) + 1.4))
    labels = []
    for row, model in enumerate(order):
        values = finals[model]
        note = f", {diverged[model]} diverged" if diverged[model] else ""
        labels.append(f"{model} (n = {len(values)}{note})" if values else f"{model} ({'not recorded' if not note else note[2:]})")
        if not values:
            continue
        color = "C0" if model == reference else "0.35"
        ax.scatter(values, [row] * len(values), s=22, color=color, alpha=0.55, zorder=3)
        interval = mean_interval(values)
        error = [[interval.mean - interval.low], [interval.high - interval.mean]] if len(values) > 1 else None
        ax.errorbar(interval.mean, row, xerr=error, fmt="D", color=color, markersize=6, capsize=4, zorder=4)
        if model == reference:
            ax.axvline(interval.mean, color=color, linestyle=":", linewidth=1)
    ax.set_yticks(range(len(order)), labels)
    ax.invert_yaxis()
    ax.set(xlabel="final test accuracy (%)", title=f"{title}: seeds (dots), mean and {LEVEL:.0%} interval (diamonds)")
    return _annotate(fig, runs)


DATASET_TITLES = {"fig4_5": "Fashion-MNIST", "fig6_7": "CIFAR-10"}
"""Legend labels of the device study's experiments."""


def figure_device_conditions(conditions: pd.DataFrame, kind: ConditionKind) -> Figure:
    """Test accuracy of the trained models against shots or against the depolarising probability.

    Book: On a real quantum computer.

    Args:
        conditions: the conditions table of :func:`~qpconv.replication.device_study.read_studies`
            (columns ``experiment, seed, kind, shots, depolarizing, accuracy``).
        kind: ``ConditionKind.SHOTS`` (x: shots per pixel and
            circuit) or ``ConditionKind.DEPOLARIZING`` (x: ``p``).

    Returns:
        One line per dataset: the mean over seeds with a band of one standard deviation, every
        seed a dot; the dotted line of each dataset's colour is its exact (noiseless) accuracy.
    """
    if kind not in (ConditionKind.SHOTS, ConditionKind.DEPOLARIZING):
        raise ValueError(f"the figure plots against shots or depolarising noise, not {kind.value!r}")
    axis = "shots" if kind is ConditionKind.SHOTS else "depolarizing"
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.15)
    frame = conditions.assign(accuracy=100 * conditions["accuracy"], dataset=conditions["experiment"].map(DATASET_TITLES))
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    palette = dict(zip(DATASET_TITLES.values(), ("C0", "C1"), strict=True))
    points = frame[frame["kind"] == kind.value]
    sns.lineplot(points, x=axis, y="accuracy", hue="dataset", palette=palette, errorbar="sd", marker="o", ax=ax)
    sns.scatterplot(points, x=axis, y="accuracy", hue="dataset", palette=palette, alpha=0.4, s=18, legend=False, ax=ax)
    for dataset, exact in frame[frame["kind"] == ConditionKind.EXACT.value].groupby("dataset")["accuracy"]:
        ax.axhline(exact.mean(), color=palette[str(dataset)], linestyle=":", linewidth=1)
    ax.set_xscale("log")
    label = "shots per pixel and circuit" if kind is ConditionKind.SHOTS else "depolarising probability p after every gate"
    seeds = ", ".join(f"{DATASET_TITLES[e]} {n}" for e, n in points.groupby("experiment")["seed"].nunique().items())
    against = "shots" if kind is ConditionKind.SHOTS else "gate noise"
    ax.set(
        xlabel=label, ylabel="test accuracy (%)", title=f"Trained quantum L = 3 models: accuracy vs {against} (seeds: {seeds})"
    )
    ax.legend(title=None)
    return fig


def figure_pointwise_cost(timings: pd.DataFrame, title: str) -> Figure:
    """Cost per pixel of each plain 1x1 conv of a network, classical and as a quantum layer, against ``C_in``.

    Book: Beyond the paper's CNN.

    Args:
        timings: :func:`~qpconv.replication.architecture_study.pointwise_timing_table`.
        title: the figure's title (say where the timings were measured).

    Returns:
        Left, the modelled forward FLOPs per pixel; right, the measured forward+backward
        microseconds per pixel; quantum filled, classical open, one marker per network,
        the convs its quantum twin swaps ringed in black. Both axes logarithmic.
    """
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.15)
    frame = timings.assign(
        quantum_us=1e6 * timings["quantum_seconds"] / timings["pixels"],
        classical_us=1e6 * timings["classical_seconds"] / timings["pixels"],
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    markers = dict(zip(sorted(frame["network"].unique()), ("o", "s", "^", "v"), strict=False))
    panels = (
        ("quantum_flops_per_pixel", "classical_flops_per_pixel", "modelled forward FLOPs per pixel"),
        ("quantum_us", "classical_us", "measured forward+backward us per pixel"),
    )
    for ax, (quantum, classical, ylabel) in zip(axes, panels, strict=True):
        for network, rows in frame.groupby("network"):
            marker = markers[str(network)]
            ax.scatter(rows["in_channels"], rows[quantum], marker=marker, color="C0", alpha=0.7, label=f"{network}, quantum")
            ax.scatter(rows["in_channels"], rows[classical], marker=marker, facecolors="none", edgecolors="C3",
                       label=f"{network}, classical 1x1")  # fmt: skip
            chosen = rows[rows["swapped"]]
            ax.scatter(chosen["in_channels"], chosen[quantum], marker=marker, s=110, facecolors="none", edgecolors="black")
        ax.set(xscale="log", yscale="log", xlabel="input channels C_in (qubits = ceil(log2 C_in))", ylabel=ylabel)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{title} (black rings: the convs made quantum in the trained networks)")
    fig.tight_layout()
    return fig


def figure_scaling(rows: Sequence[ScalingRow], title: str) -> Figure:
    """The exact layer from few to many qubits: time per pixel, the FLOP model at the GEMM peak, the circuits' share.

    Book: Beyond the paper's CNN.

    Args:
        rows: :func:`qpconv.bench_scaling.scaling_table` rows (skipped sizes are left out).
        title: the figure's title (say where it was measured).

    Returns:
        Left: measured forward+backward microseconds per pixel of the quantum layer (one line
        per ``L``), of the classical 1x1 conv of the same channels (dashed), and the
        quantum layer's modelled FLOPs at the run's measured float32 GEMM peak (dotted: the
        time a perfect implementation would need). Right: the share of the quantum step
        spent building the circuits' unitary columns.
    """
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.15)
    frame = pd.DataFrame([asdict(row) for row in rows if not row.skipped])
    frame["model_us_per_pixel"] = frame["model_flops_per_pixel"] / (frame["peak_gflops"] * 1e3)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for index, (n_layers, group) in enumerate(frame.groupby("n_layers")):
        color = f"C{index}"
        left.plot(group["n_qubits"], group["quantum_us_per_pixel"], "o-", color=color, label=f"quantum, L = {n_layers}")
        left.plot(group["n_qubits"], group["model_us_per_pixel"], ":", color=color)
        right.plot(group["n_qubits"], 100 * group["columns_share"], "o-", color=color, label=f"L = {n_layers}")
    classical = frame.groupby("n_qubits")["classical_us_per_pixel"].min()
    left.plot(classical.index, classical.values, "s--", color="C3", label="classical 1x1 conv")
    left.set(yscale="log", xlabel="qubits n (C_in = 2^n, C_out = C_in / 4)", ylabel="forward+backward us per pixel")
    right.set(xlabel="qubits n", ylabel="building the unitaries (% of the step)")
    left.legend(fontsize=8, title="dotted: FLOP model at GEMM peak", title_fontsize=8)
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
