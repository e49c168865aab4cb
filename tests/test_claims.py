"""Claims: summaries over seeds and the verdict rules, on synthetic runs whose answers are known."""

from __future__ import annotations

import pandas as pd
import pytest
from synthetic_runs import synthetic_run

from qpconv.replication.claims import (
    PAPER_ACCURACIES,
    accuracy_table,
    accuracy_the_paper_plotted,
    check_claims,
    mean_and_spread,
    quantum_versus_classical,
    summarise,
)
from qpconv.replication.results import RunRecord, RunStatus


def record(
    model: str, seed: int, train: list[float], test: list[float], parameters: int = 1000, completed: bool = True
) -> RunRecord:
    """A run whose accuracies (percent) per epoch are ``train`` and ``test``."""
    metrics = [
        {
            "epoch": e + 1,
            "train_loss": 1.0,
            "train_acc": a / 100,
            "test_loss": 1.0,
            "test_acc": b / 100,
            "lr": 0.01,
            "seconds": 1800.0,
        }
        for e, (a, b) in enumerate(zip(train, test))
    ]
    status = RunStatus.COMPLETE if completed else RunStatus.RUNNING
    return synthetic_run(model, seed, metrics, status=status, parameters=parameters, epochs=len(metrics) + (not completed))


def test_summary_means_sds_final_best_and_hours():
    runs = [
        record("quantum-L3", 0, [80, 90], [85, 84]),
        record("quantum-L3", 1, [82, 94], [86, 88]),
        record("classical", 0, [70, 75], [72, 74]),
        record("classical", 1, [10], [10], completed=False),
    ]
    summary = summarise(runs)
    assert list(summary.index) == ["quantum-L3", "classical"]
    q = summary.loc["quantum-L3"]
    assert q["seeds"] == 2 and q["epochs"] == 2 and q["hours"] == pytest.approx(1.0)
    assert q["final_train"] == pytest.approx(92) and q["final_train_sd"] == pytest.approx(2**0.5 * 2)
    assert q["final_test"] == pytest.approx(86) and q["best_test"] == pytest.approx(86.5)
    assert summary.loc["classical", "seeds"] == 1 and summary.loc["classical", "final_test_sd"] == 0
    assert summarise(runs, completed_only=False).loc["classical", "seeds"] == 2
    assert summarise([]).empty


def verdicts(table: pd.DataFrame) -> dict[str, str]:
    return dict(zip(table["statement"], table["verdict"]))


def seeds(model: str, tests: list[float], train: float = 99.0) -> list[RunRecord]:
    return [record(model, s, [train + s / 10], [t]) for s, t in enumerate(tests)]


def seeds_with(model: str, train: list[float], test: list[float], parameters: int) -> list[RunRecord]:
    return [record(model, s, [a], [b], parameters) for s, (a, b) in enumerate(zip(train, test))]


@pytest.mark.parametrize(
    ("q_train", "q_tests", "expected"),
    [
        ([97, 97.2, 97.4], [96.0, 96.2, 96.4], "holds"),  # the test interval lies above 95
        ([97, 97.2, 97.4], [92.0, 92.2, 92.4], "partly"),  # only the training interval does
        ([93, 93.2, 93.4], [92.0, 92.2, 92.4], "does not hold"),
        ([93, 96, 99], [93.0, 95.0, 97.0], "not resolved"),  # both intervals straddle 95
    ],
)
def test_a_level_is_judged_on_the_interval_of_the_test_mean_then_train(q_train, q_tests, expected):
    runs = seeds_with("quantum-L3", q_train, q_tests, 900) + seeds_with("classical", [99] * 3, [90, 90.5, 91], 2000)
    table = verdicts(check_claims(summarise(runs), summarise([]), summarise([])))
    assert table["Fashion-MNIST: quantum accuracy above 95 %"] == expected
    assert table["the quantum model has fewer parameters than the classical one"] == "holds"


@pytest.mark.parametrize(
    ("q_tests", "c_tests", "expected"),
    [
        ([91, 92, 93], [85, 86, 87], "holds"),  # the interval excludes 0 in the claimed direction
        ([91, 92, 93], [91.5, 92, 92.5], "not resolved"),  # the interval contains 0
        ([85, 86, 87], [91, 92, 93], "does not hold"),  # it excludes 0 in the other direction
    ],
)
def test_a_comparison_holds_only_when_its_interval_excludes_zero(q_tests, c_tests, expected):
    table = check_claims(summarise(seeds("quantum-L3", q_tests) + seeds("classical", c_tests)), summarise([]), summarise([]))
    row = table.set_index("statement").loc["Fashion-MNIST: the quantum model is more accurate than the classical one"]
    assert row["verdict"] == expected
    assert row["interval"].startswith("test difference ") and ", p = " in row["interval"]


@pytest.mark.parametrize(
    ("q_tests", "expected"),
    [
        ([89.0, 90.0, 91.0], "holds"),  # +10 points, and the paper's +10 is inside the interval
        ([81.0, 81.5, 82.0], "partly"),  # better, but by less than the paper's size
    ],
)
def test_a_claimed_size_must_lie_inside_the_interval(q_tests, expected):
    runs = seeds("quantum-L3", q_tests) + seeds("classical", [79.5, 80.0, 80.5])
    table = check_claims(summarise([]), summarise(runs), summarise([])).set_index("statement")
    row = table.loc["CIFAR-10: the quantum model is more accurate than the classical one"]
    assert row["paper"] == "~ 90 % vs ~ 80 % (+10 points)" and row["verdict"] == expected
    assert ("inside" if expected == "holds" else "outside") in row["interval"]


def test_one_seed_has_no_interval_and_decides_nothing():
    one = summarise([record("quantum-L3", 0, [99], [93]), record("classical", 0, [99], [92])])
    row = check_claims(one, summarise([]), summarise([])).iloc[1]
    assert row["verdict"] == "not resolved" and "no interval: one seed" in row["interval"]


def test_missing_runs_are_not_measured():
    table = check_claims(summarise([]), summarise([]), summarise([]))
    assert set(table["verdict"]) == {"not measured"}
    assert len(table) == 9


def test_depth_claims():
    def runs(l4_tests):
        tests = {"quantum-L1": [70, 70.5, 71], "quantum-L2": [72, 72.5, 73], "quantum-L3": [74, 74.5, 75],
                 "quantum-L4": l4_tests, "classical": [70.5, 71, 71.5]}  # fmt: skip
        return summarise([r for model, values in tests.items() for r in seeds(model, values, 90)])

    best = "CIFAR-10: four entangling blocks give the most accurate model"
    above = "CIFAR-10: every quantum depth beats the classical model (~ 70 %)"
    level = "CIFAR-10 (Fig. 8): classical accuracy ~ 70 %"
    assert verdicts(check_claims(summarise([]), summarise([]), runs([76, 76.5, 77])))[best] == "holds"
    assert verdicts(check_claims(summarise([]), summarise([]), runs([71, 71.5, 72])))[best] == "does not hold"
    table = verdicts(check_claims(summarise([]), summarise([]), runs([76, 76.5, 77])))
    assert table[above] == "not resolved"  # L1 is within the seeds' reach of classical
    assert table[level] == "holds"


def test_depth_claims_with_some_depths_recorded_show_them_but_give_no_verdict():
    partial = summarise(
        [record("quantum-L1", 0, [90], [75.3]), record("quantum-L3", 0, [90], [76.4]), record("classical", 0, [90], [74.5])]
    )
    rows = check_claims(summarise([]), summarise([]), partial).iloc[5:7]
    assert set(rows["verdict"]) == {"not measured"}
    assert set(rows["measured"]) == {"final test: L1 75.30, L3 76.40, classical 74.50; not recorded yet: L2, L4"}


def test_mean_and_spread_shows_no_spread_for_one_seed():
    assert mean_and_spread(76.41, 0.0, seeds=1) == "76.4"
    assert mean_and_spread(93.04, 0.031, seeds=2, digits=2) == "93.04 ± 0.03"
    one = summarise([record("quantum-L3", 0, [94.5], [76.4]), record("classical", 0, [91.8], [74.5])])
    measured = check_claims(summarise([]), one, summarise([])).iloc[2]["measured"]
    assert measured == "quantum-L3: final train 94.50, test 76.40; best train 94.50, test 76.40 (1 seed)"


def test_accuracy_table_lists_every_recorded_model():
    fashion = summarise([record("quantum-L3", s, [99], [93 + s]) for s in range(2)])
    cifar = summarise([record("classical", 0, [91.8], [74.49], parameters=674346)])
    table = accuracy_table({"fig4_5": fashion, "fig6_7": cifar, "fig8": summarise([])})
    assert list(table.index) == [("fig4_5", "quantum-L3"), ("fig6_7", "classical")]
    assert table.loc[("fig4_5", "quantum-L3"), "final_test"] == "93.50 ± 0.71"
    assert table.loc[("fig6_7", "classical"), "final_test"] == "74.49"
    assert table.loc[("fig6_7", "classical"), "parameters"] == "674,346"
    assert table.loc[("fig4_5", "quantum-L3"), "hours per run"] == 0.5
    assert accuracy_table({"fig8": summarise([])}).empty and accuracy_table(summarise([])).empty
    assert list(accuracy_table(fashion).index) == ["quantum-L3"]


def test_quantum_versus_classical():
    summary = summarise([record("quantum-L3", 0, [94.5], [76.4]), record("classical", 0, [91.8], [74.5])])
    assert quantum_versus_classical(summary) == (
        "final test: quantum 76.40 %, classical 74.50 %, difference +1.90 points\n"
        "final train: quantum 94.50 %, classical 91.80 %, difference +2.70 points"
    )
    assert quantum_versus_classical(summary.loc[["classical"]]) == "no complete run of quantum-L3 is recorded yet"


def test_which_accuracy_the_paper_plotted():
    summary = summarise([record("quantum-L3", 0, [91], [78])])
    quoted = [q for q in PAPER_ACCURACIES if q.experiment == "fig6_7"]
    table = accuracy_the_paper_plotted({"fig6_7": summary}, quoted)
    assert table.to_dict("records") == [
        {"experiment": "fig6_7", "model": "quantum-L3", "paper": 90.0, "final_train": 91.0, "final_test": 78.0, "closer": "train"}
    ]
