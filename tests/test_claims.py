"""Claims: summaries over seeds and the verdict rules, on synthetic runs whose answers are known."""

from __future__ import annotations

import pandas as pd
import pytest

from qpconv.claims import accuracy_the_paper_plotted, check_claims, summarise
from qpconv.results import RunRecord


def record(model: str, seed: int, train: list[float], test: list[float], parameters: int = 1000, completed: bool = True) -> RunRecord:
    """A run whose accuracies (percent) per epoch are ``train`` and ``test``."""
    metrics = [
        {"epoch": e + 1, "train_loss": 1.0, "train_acc": a / 100, "test_loss": 1.0, "test_acc": b / 100, "lr": 0.01, "seconds": 1800.0}
        for e, (a, b) in enumerate(zip(train, test))
    ]
    config = {"model": model, "seed": seed, "completed": completed, "dataset_copy": "copy", "device": "cpu",
              "parameters": {"total": parameters, "quantum": 10 if model.startswith("quantum") else 0}}
    return RunRecord(config, metrics)


def test_summary_means_sds_final_best_and_hours():
    runs = [record("quantum-L3", 0, [80, 90], [85, 84]), record("quantum-L3", 1, [82, 94], [86, 88]),
            record("classical", 0, [70, 75], [72, 74]), record("classical", 1, [10], [10], completed=False)]
    summary = summarise(runs)
    assert list(summary.index) == ["quantum-L3", "classical"]
    q = summary.loc["quantum-L3"]
    assert q["seeds"] == 2 and q["epochs"] == 2 and q["hours"] == pytest.approx(1.0)
    assert q["final_train"] == pytest.approx(92) and q["final_train_sd"] == pytest.approx(2 ** 0.5 * 2)
    assert q["final_test"] == pytest.approx(86) and q["best_test"] == pytest.approx(86.5)
    assert summary.loc["classical", "seeds"] == 1 and summary.loc["classical", "final_test_sd"] == 0
    assert summarise(runs, completed_only=False).loc["classical", "seeds"] == 2
    assert summarise([]).empty


def verdicts(table: pd.DataFrame) -> dict[str, str]:
    return dict(zip(table["statement"], table["verdict"]))


def test_fashion_mnist_level_uses_test_then_train():
    def table(q_train, q_test):
        return verdicts(check_claims(summarise([record("quantum-L3", 0, [q_train], [q_test], 900), record("classical", 0, [90], [90], 2000)]),
                                     summarise([]), summarise([])))
    claim = "Fashion-MNIST: quantum accuracy above 95 %"
    assert table(97, 96)[claim] == "holds"
    assert table(97, 92)[claim] == "partly"
    assert table(93, 92)[claim] == "does not hold"
    assert table(97, 92)["the quantum model has fewer parameters than the classical one"] == "holds"


@pytest.mark.parametrize("q_tests,c_tests,expected", [
    ([91, 92, 93], [85, 86, 87], "holds"),          # 6 points apart, spread ~1.4
    ([91, 92, 93], [91.5, 92, 92.5], "partly"),      # within the seed spread
    ([85, 86, 87], [91, 92, 93], "does not hold"),
])
def test_comparison_against_the_seed_spread(q_tests, c_tests, expected):
    runs = [record("quantum-L3", s, [99], [t]) for s, t in enumerate(q_tests)]
    runs += [record("classical", s, [99], [t]) for s, t in enumerate(c_tests)]
    table = verdicts(check_claims(summarise([]), summarise(runs), summarise([])))
    assert table["CIFAR-10: the quantum model is more accurate than the classical one"] == expected


def test_missing_runs_are_not_measured():
    table = check_claims(summarise([]), summarise([]), summarise([]))
    assert set(table["verdict"]) == {"not measured"}
    assert len(table) == 8


def test_depth_claims():
    def runs(l4_test):
        tests = {"quantum-L1": 70, "quantum-L2": 72, "quantum-L3": 74, "quantum-L4": l4_test, "classical": 71}
        return summarise([record(model, 0, [90], [value]) for model, value in tests.items()])
    best = "CIFAR-10: four entangling blocks give the most accurate model"
    above = "CIFAR-10: every quantum depth beats the classical model (~70 %)"
    assert verdicts(check_claims(summarise([]), summarise([]), runs(76)))[best] == "holds"
    assert verdicts(check_claims(summarise([]), summarise([]), runs(73)))[best] == "does not hold"
    assert verdicts(check_claims(summarise([]), summarise([]), runs(76)))[above] == "partly"  # L1 is below


def test_which_accuracy_the_paper_plotted():
    summary = summarise([record("quantum-L3", 0, [91], [78])])
    table = accuracy_the_paper_plotted({("fig6_7", "quantum-L3"): 90.0, ("fig6_7", "classical"): 80.0}, {"fig6_7": summary})
    assert table.to_dict("records") == [
        {"experiment": "fig6_7", "model": "quantum-L3", "paper": 90.0, "final_train": 91.0, "final_test": 78.0, "closer": "train"}
    ]


def test_single_seed_comparisons_are_marked_provisional():
    one = summarise([record("quantum-L3", 0, [99], [93]), record("classical", 0, [99], [92])])
    row = check_claims(one, summarise([]), summarise([])).iloc[1]
    assert row["verdict"] == "holds" and row["measured"].endswith("one seed only, so no spread: provisional")
    three = summarise([record(m, s, [99], [t + s / 10]) for m, t in (("quantum-L3", 93), ("classical", 90)) for s in range(3)])
    assert "provisional" not in check_claims(three, summarise([]), summarise([])).iloc[1]["measured"]
