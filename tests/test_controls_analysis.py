"""The controls chapter's analysis: its table, ingredients, verdict, claims row, tuning table and figure.

Book: "What makes it work?". Synthetic runs whose answers are known.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
from synthetic_runs import synthetic_run

from qpconv.replication.claims import check_claims, compare, summarise
from qpconv.replication.controls import (
    CONTROLS,
    INGREDIENTS,
    QUANTUM,
    SAME_FORM,
    TUNED_INGREDIENTS,
    controls_table,
    ingredient_table,
    ingredient_verdict,
    plain_verdict,
    same_form_claim,
    seconds_per_epoch,
    tuned_gap_claim,
    tuned_ingredient_table,
    tuned_verdict,
    tuning_presets,
    tuning_table,
)
from qpconv.replication.experiments import get_experiment
from qpconv.replication.plotting import figure_blocks
from qpconv.replication.results import RunRecord, RunStatus, run_path, write_run
from qpconv.replication.statistics import Verdict


def run(model: str, seed: int, final_test: float, seconds: float = 100.0, status: RunStatus = RunStatus.COMPLETE) -> RunRecord:
    """A two-epoch run of ``model`` ending at ``final_test`` percent test accuracy."""
    metrics = [
        {"epoch": e, "train_loss": 1.0, "train_acc": 0.9, "test_loss": 1.0, "test_acc": acc / 100, "lr": 0.01, "seconds": seconds}
        for e, acc in ((1, final_test - 5), (2, final_test))
    ]
    return synthetic_run(model, seed, metrics, status=status, experiment="controls", epochs=2)


def seeds(model: str, values: list[float], **kwargs) -> list[RunRecord]:
    return [run(model, seed, value, **kwargs) for seed, value in enumerate(values)]


QUANTUM_RUNS = seeds(QUANTUM, [76.0, 76.4, 76.2, 76.6, 75.8])


def test_the_table_lists_every_block_in_order_with_differences_to_quantum():
    runs = [*QUANTUM_RUNS, *seeds("normalised-quadratic", [77.0, 77.4, 77.2]), run("linear", 0, 10.0, status=RunStatus.DIVERGED)]
    summary = summarise(runs)
    table = controls_table(summary, runs)
    assert list(table.index) == [c.model for c in CONTROLS]
    assert table.loc["normalised-quadratic", "test - quantum"] == compare(summary, "normalised-quadratic", QUANTUM).text
    assert table.loc["normalised-quadratic", "seeds"] == 3
    assert table.loc[QUANTUM, "test - quantum"] == ""
    assert table.loc["linear", "final test"] == "diverged (1 run)"
    assert table.loc["none", "final test"] == "not recorded"
    assert table.loc["none", "block parameters"] == "0"
    assert int(table.loc[QUANTUM, "block parameters"].replace(",", "")) > 0


def test_the_fashion_mnist_table_has_only_its_blocks():
    table = controls_table(summarise(QUANTUM_RUNS), QUANTUM_RUNS, "controls_fmnist")
    assert set(table.index) == {v.name for v in get_experiment("controls_fmnist").variants}


@pytest.mark.parametrize(
    ("control", "expected"),
    [([78.0, 78.3, 78.1], Verdict.FAILS), ([70.0, 70.5, 69.8], Verdict.HOLDS), ([74.0, 78.5, 76.5], Verdict.UNRESOLVED)],
    ids=["control-better", "quantum-better", "unresolved"],
)
def test_ingredient_verdicts_follow_the_welch_rule(control, expected):
    summary = summarise([*QUANTUM_RUNS, *seeds(SAME_FORM.without_it, control)])
    assert ingredient_verdict(summary, SAME_FORM) is expected
    claim = same_form_claim(summary)
    assert claim.verdict == expected.value
    assert compare(summary, QUANTUM, SAME_FORM.without_it).text in claim.interval
    words = {
        Verdict.FAILS: "is beaten by",
        Verdict.HOLDS: "beats",
        Verdict.UNRESOLVED: "cannot be told apart, with these seeds, from",
    }[expected]
    assert plain_verdict(summary).startswith(
        f"At the paper's learning rate, the quantum block {words} the classical block of the same form"
    )


def test_an_ingredient_without_runs_is_not_measured_and_said_so():
    summary = summarise(QUANTUM_RUNS)
    assert all(ingredient_verdict(summary, i) is Verdict.MISSING for i in INGREDIENTS)
    assert set(ingredient_table(summary)["verdict"]) == {Verdict.MISSING.value}
    assert same_form_claim(summary).verdict == Verdict.MISSING.value
    assert f"Not measured yet ({len(INGREDIENTS)} of {len(INGREDIENTS)} comparisons)" in plain_verdict(summary)


def test_the_claims_table_appends_the_same_form_row():
    summary = summarise([*QUANTUM_RUNS, *seeds(SAME_FORM.without_it, [70.0, 70.5, 69.8])])
    empty = summarise([])
    claims = check_claims(empty, empty, empty, extra=[same_form_claim(summary)])
    last = claims.iloc[-1]
    assert "same functional form" in last["statement"] and last["verdict"] == Verdict.HOLDS.value


def test_seconds_per_epoch_average_over_epochs_and_skip_diverged_runs():
    runs = [run("classical", 0, 70.0, seconds=10.0), run("classical", 1, 71.0, seconds=30.0)]
    runs.append(run("linear", 0, 10.0, seconds=99.0, status=RunStatus.DIVERGED))
    assert seconds_per_epoch(runs) == {"classical": 20.0}


def write(results: Path, record: RunRecord, preset: str) -> None:
    storage = (
        "fig6_7" if record.config.model in ("classical", QUANTUM) else "controls"
    )  # runs are stored once, first where they appear
    folder = run_path(results, storage, preset, record.config.model, record.config.seed)
    write_run(folder, record.config, record.outcome, record.metrics)


def test_tuning_selects_on_validation_and_reports_the_test_runs_at_the_selected_rate(tmp_path):
    validation = {0.001: 60.0, 0.003: 72.0, 0.01: 70.0}
    for lr, preset in tuning_presets("tune").items():
        write(tmp_path, run("classical", 0, validation[lr]), preset)
        if lr != 0.01:
            write(tmp_path, run("linear", 0, 50.0), preset)  # linear lacks its 0.01 run: not selected yet
    for seed, value in enumerate([74.0, 75.0, 76.0]):
        write(tmp_path, run("classical", seed, value), tuning_presets("full")[0.003])
    table = tuning_table(tmp_path, models=["classical", "linear"])
    assert table.loc["classical", "selected lr"] == "0.003"
    assert table.loc["classical", "val @ 0.003"] == "72.00"
    assert table.loc["classical", "lead"] == "2.00"  # over 0.01's 70.00, the next best
    assert table.loc["classical", "test at selected lr"] == "75.00 ± 1.00"
    assert table.loc["classical", "seeds"] == 3
    assert table.loc["linear", "selected lr"] == "" and table.loc["linear", "val @ 0.01"] == ""
    assert table.loc["linear", "lead"] == ""  # nothing selected yet


def test_a_diverged_tuning_run_is_never_selected(tmp_path):
    for lr, preset in tuning_presets("tune").items():
        status = RunStatus.DIVERGED if lr == 0.01 else RunStatus.COMPLETE
        write(tmp_path, run("linear", 0, {0.001: 40.0, 0.003: 45.0, 0.01: 99.0}[lr], status=status), preset)
    table = tuning_table(tmp_path, models=["linear"])
    assert table.loc["linear", "val @ 0.01"] == "diverged"
    assert table.loc["linear", "selected lr"] == "0.003"
    assert table.loc["linear", "lead"] == "5.00"  # over 0.001; the diverged rate is no competitor


def test_tuned_verdicts_compare_each_block_at_its_selected_rate_and_say_what_changed(tmp_path):
    assert [i.name for i in TUNED_INGREDIENTS] == ["the paper's gap", "the quantum layer", "circuit constraints"]
    paper_rate = [*QUANTUM_RUNS, *seeds("normalised-quadratic", [74.0, 74.2, 73.8]), *seeds("classical", [75.0, 75.1])]
    for record in paper_rate:
        write(tmp_path, record, "full")
    tuning = {QUANTUM: {0.001: 70.0, 0.003: 75.0, 0.01: 77.0}, "normalised-quadratic": {0.001: 72.0, 0.003: 78.0, 0.01: 75.0}}
    for model, scores in tuning.items():
        for lr, preset in tuning_presets("tune").items():
            write(tmp_path, run(model, 0, scores[lr]), preset)
    for record in seeds("normalised-quadratic", [76.1, 76.5, 76.3]):  # better at its own rate: the gap closes
        write(tmp_path, record, tuning_presets("full")[0.003])
    table = tuned_ingredient_table(summarise(paper_rate), tmp_path)
    constraints = table.loc["circuit constraints"]
    assert constraints["verdict at lr 0.01"] == Verdict.HOLDS.value
    assert constraints["selected lrs"] == "0.01 / 0.003"
    assert constraints["at the selected lrs"].startswith("-0.10 [")
    assert constraints["verdict at the selected lrs"] == Verdict.UNRESOLVED.value and constraints["changed"] == "yes"
    gap = table.loc["the paper's gap"]
    assert gap["selected lrs"] == "0.01 / ?" and gap["verdict at the selected lrs"] == Verdict.MISSING.value
    assert gap["changed"] == ""
    claim = same_form_claim(summarise(paper_rate), table)
    assert claim.verdict == Verdict.UNRESOLVED.value  # the same tuning budget decides
    assert "; each at its selected lr (0.01 / 0.003): -0.10 [" in claim.interval
    assert same_form_claim(summarise(paper_rate)).verdict == Verdict.HOLDS.value
    sentence = tuned_verdict(table)
    assert "the quantum layer: not measured under tuning yet (the tuning runs are not all recorded)." in sentence
    assert "the paper's gap: not measured under tuning yet (the tuning runs are not all recorded)." in sentence
    assert "circuit constraints: changes under tuning, from holds at the paper's rate to not resolved" in sentence
    assert "at the selected rates 0.01 / 0.003 with 5 / 3 seeds (-0.10 [" in sentence
    assert (constraints["seeds"], gap["seeds"]) == ("5 / 3", "5 / 0")
    verdict = plain_verdict(summarise(paper_rate), table)
    assert verdict.startswith("At the paper's learning rate, the quantum block beats the classical block of the same form")
    assert (
        "With each block at the learning rate its tuning selected (0.01 / 0.003), the quantum block cannot be told "
        "apart, with these seeds, from it: -0.10 [" in verdict
    )
    assert "Under the same tuning budget (" not in verdict  # the paper's gap is not measured under tuning yet
    assert (
        "So the recorded runs do not credit the circuit: under the same tuning budget, the quantum block cannot be "
        "told apart from a classical layer of its form with these seeds." in verdict
    )


def test_a_verdict_that_survives_tuning_is_said_to_be_unchanged(tmp_path):
    paper_rate = [*QUANTUM_RUNS, *seeds("normalised-quadratic", [74.0, 74.2, 73.8])]
    for record in paper_rate:
        write(tmp_path, record, "full")
    for model, scores in {QUANTUM: (70.0, 75.0, 77.0), "normalised-quadratic": (72.0, 78.0, 75.0)}.items():
        for preset, score in zip(tuning_presets("tune").values(), scores):
            write(tmp_path, run(model, 0, score), preset)
    for record in seeds("normalised-quadratic", [74.5, 74.9, 74.7]):  # better at its own rate, still behind
        write(tmp_path, record, tuning_presets("full")[0.003])
    table = tuned_ingredient_table(summarise(paper_rate), tmp_path)
    assert table.loc["circuit constraints", "changed"] == "no"
    assert (
        "So the recorded runs credit the circuit: under the same tuning budget, the quantum block beats a classical "
        "layer of its form." in plain_verdict(summarise(paper_rate), table)
    )
    assert "circuit constraints: unchanged under tuning (holds; at the selected rates 0.01 / 0.003 with 5 / 3 seeds, +1.50 [" in (
        tuned_verdict(table)
    )


def test_the_papers_gap_under_tuning_is_a_claims_row_of_its_own(tmp_path):
    paper_rate = [*QUANTUM_RUNS, *seeds("classical", [75.0, 75.2, 74.8])]  # the paper's gap holds at 0.01
    for record in paper_rate:
        write(tmp_path, record, "full")
    tuning = {QUANTUM: (70.0, 75.0, 77.0), "classical": (76.0, 78.0, None)}  # classical diverges at 0.01, selects 0.003
    for model, scores in tuning.items():
        for preset, score in zip(tuning_presets("tune").values(), scores):
            status = RunStatus.DIVERGED if score is None else RunStatus.COMPLETE
            write(tmp_path, run(model, 0, score or 10.0, status=status), preset)
    summary = summarise(paper_rate)
    waiting = tuned_gap_claim(tuned_ingredient_table(summary, tmp_path))
    assert (waiting.verdict, waiting.measured, waiting.interval) == (Verdict.MISSING.value, "", "")
    for record in seeds("classical", [77.6, 77.0]):
        write(tmp_path, record, tuning_presets("full")[0.003])
    claim = tuned_gap_claim(tuned_ingredient_table(summary, tmp_path))
    assert claim.statement == "CIFAR-10: quantum above classical, each at the learning rate its tuning selected"
    assert claim.measured == "final test 76.20 / 77.30 (5 / 2 seeds; lr 0.01 / 0.003)"
    assert claim.interval.startswith("test difference -1.10 [")
    assert claim.verdict == Verdict.UNRESOLVED.value  # two classical seeds: Welch's interval is wide
    for record in seeds("classical", [77.6, 77.0, 77.3, 77.5, 77.1]):
        write(tmp_path, record, tuning_presets("full")[0.003])
    assert tuned_gap_claim(tuned_ingredient_table(summary, tmp_path)).verdict == Verdict.FAILS.value
    verdict = plain_verdict(summary, tuned_ingredient_table(summary, tmp_path))
    assert (
        "Under the same tuning budget (0.01 / 0.003), the quantum block is beaten by the paper's classical block: -1.1" in verdict
    )
    assert "; the paper's gap does not survive giving the classical block its own learning rate." in verdict
    assert verdict.startswith("Whether the quantum block beats a classical block of the same form")  # no such runs
    assert "credit the circuit" not in verdict


def test_a_block_that_diverged_at_the_papers_rate_is_compared_at_its_selected_rate(tmp_path):
    linear_diverged = run("linear", 0, 10.0, status=RunStatus.DIVERGED)
    summary = summarise([*QUANTUM_RUNS, linear_diverged])
    layer = next(i for i in INGREDIENTS if i.name == "the quantum layer")
    assert ingredient_table(summary).loc["the quantum layer", "difference"] == "linear diverged at this learning rate"
    assert ingredient_verdict(summary, layer) is Verdict.MISSING
    verdict = plain_verdict(summary)
    assert "where a block diverged: the quantum layer, normalisation (see the same tuning budget)." in verdict
    assert "Not measured yet (9 of 11 comparisons)" in verdict  # the other pairs lack runs
    for record in QUANTUM_RUNS:
        write(tmp_path, record, "full")
    write(tmp_path, linear_diverged, "full")
    for model, scores in {QUANTUM: (70.0, 75.0, 77.0), "linear": (72.0, 78.0, None)}.items():
        for preset, score in zip(tuning_presets("tune").values(), scores):
            status = RunStatus.DIVERGED if score is None else RunStatus.COMPLETE
            write(tmp_path, run(model, 0, score or 10.0, status=status), preset)
    for record in seeds("linear", [77.0, 77.4, 77.2]):
        write(tmp_path, record, tuning_presets("full")[0.003])
    row = tuned_ingredient_table(summary, tmp_path).loc["the quantum layer"]
    assert row["at lr 0.01"] == "linear diverged at this learning rate" and row["selected lrs"] == "0.01 / 0.003"
    assert row["verdict at the selected lrs"] == Verdict.FAILS.value and row["changed"] == "yes"
    assert tuned_verdict(tuned_ingredient_table(summary, tmp_path)).startswith("the paper's gap: not measured")
    assert (
        "the quantum layer: not measurable at the paper's rate (linear diverged at this learning rate); at the "
        "selected rates 0.01 / 0.003 with 5 / 3 seeds, does not hold (-1.00 ["
        in tuned_verdict(tuned_ingredient_table(summary, tmp_path))
    )


def test_runs_that_diverged_beside_trained_seeds_are_left_out_and_said_to_be(tmp_path):
    linear = [run("linear", 0, 10.0, status=RunStatus.DIVERGED), *seeds("linear", [0.0, 77.0, 77.4, 77.2])[1:]]  # seeds 0..3
    summary = summarise([*QUANTUM_RUNS, *linear])
    difference = ingredient_table(summary).loc["the quantum layer", "difference"]
    assert difference.startswith("-1.00 [")  # the mean of the three trained seeds, 77.2
    assert difference.endswith("; left out: linear diverged in 1 of 4 runs")
    assert "Runs that diverged are left out of the means: linear diverged in 1 of 4 runs." in plain_verdict(summary)
    assert "left out" not in ingredient_table(summary).loc["the paper's gap", "difference"]

    for model, scores in {QUANTUM: (70.0, 75.0, 77.0), "linear": (72.0, 78.0, 71.0)}.items():
        for preset, score in zip(tuning_presets("tune").values(), scores):
            write(tmp_path, run(model, 0, score), preset)
    for record in QUANTUM_RUNS:
        write(tmp_path, record, "full")
    for record in linear:
        write(tmp_path, record, tuning_presets("full")[0.003])
    assert tuning_table(tmp_path).loc["linear", "test at selected lr"] == "77.20 ± 0.20 (+1 diverged)"
    row = tuned_ingredient_table(summary, tmp_path).loc["the quantum layer"]
    assert row["at the selected lrs"].endswith("; left out: linear diverged in 1 of 4 runs")


def test_the_block_figure_keeps_a_row_for_every_block():
    runs = [*QUANTUM_RUNS, run("linear", 0, 10.0, status=RunStatus.DIVERGED), run("classical", 0, 74.0)]
    order = [c.model for c in CONTROLS]
    fig = figure_blocks(runs, order, QUANTUM, "test")
    labels = [label.get_text() for label in fig.axes[0].get_yticklabels()]
    assert labels[0] == f"{QUANTUM} (n = 5)"
    assert "linear (1 diverged)" in labels and "none (not recorded)" in labels and "classical (n = 1)" in labels
    assert len(labels) == len(order)


def test_the_verdict_says_when_it_rests_on_the_papers_rate_alone(tmp_path):
    summary = summarise([*QUANTUM_RUNS, *seeds(SAME_FORM.without_it, [70.0, 70.5, 69.8])])
    verdict = plain_verdict(summary, tuned_ingredient_table(summary, tmp_path))  # no tuning runs recorded
    assert "With each block at the learning rate its tuning selected, that is not measured yet." in verdict
    assert (
        "So the recorded runs credit the circuit: at the paper's learning rate (not yet measured under tuning), "
        "the quantum block beats a classical layer of its form." in verdict
    )
