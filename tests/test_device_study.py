"""The recorded device study: written once per trained model, atomically, read back with damage named by path.

Book: "On a real quantum computer".
"""

from __future__ import annotations

import shutil

import pytest

from qpconv.cli import main
from qpconv.replication.device_study import (
    CONDITIONS_FILE,
    NOISE_AWARE_FILE,
    STUDY_FILE,
    FineTuned,
    StudySize,
    read_studies,
    record_study,
    study_path,
    summarise_conditions,
)
from qpconv.replication.experiments import load_runs
from qpconv.replication.results import DamagedRunError
from qpconv.replication.robustness import DeviceCondition, FineTuning

PRESET = "e1-train300-test200-lr0.01"
CONDITIONS = (DeviceCondition(), DeviceCondition(shots=100))
# the runs' own 200 test images (the same stratified subset), one noise-aware level: seconds, not minutes
SIZE = StudySize("tiny", PRESET, 200, 200, CONDITIONS, noise_aware=(0.1,), fine_tuning=FineTuning(epochs=1))


@pytest.fixture(scope="module")
def studied(fashion_mnist_root, tmp_path_factory):
    """Tiny fig4_5 quantum runs (seeds 3 and 4), each studied once."""
    base = tmp_path_factory.mktemp("study")
    command = ["run", "fig4_5", "--epochs", "1", "--train-size", "300", "--test-size", "200", "--seeds", "3", "4"]
    command += ["--models", "quantum-L3", "--device", "cpu", "--data-root", str(fashion_mnist_root)]
    assert main([*command, "--results-dir", str(base), "--checkpoint-dir", str(base / "checkpoints")]) == 0
    written = record_study("fig4_5", SIZE, base, fashion_mnist_root, progress=lambda line: None)
    return base, written, fashion_mnist_root


def test_every_trained_model_is_studied_under_every_condition_and_each_noise_aware_level(studied):
    base, written, _ = studied
    assert written == [study_path(base, "tiny", "fig4_5", seed) for seed in (3, 4)]
    conditions, noise_aware = read_studies(base, "tiny")
    assert len(conditions) == 2 * len(CONDITIONS) and set(conditions["seed"]) == {3, 4}
    assert len(noise_aware) == 2 * len(SIZE.noise_aware) * len(FineTuned)
    assert set(noise_aware["fine_tuning"]) == {which.value for which in FineTuned}
    summary = summarise_conditions(conditions)
    assert (summary["seeds"] == 2).all() and summary["mean"].between(0, 100).all()


def test_the_exact_condition_reproduces_the_recorded_test_accuracy(studied):
    base, _, _ = studied
    conditions, _ = read_studies(base, "tiny")
    exact = conditions[conditions["kind"] == "exact"]
    recorded = {run.config.seed: run.metrics[-1]["test_acc"] for run in load_runs("fig4_5", PRESET, base)}
    assert dict(zip(exact["seed"], exact["accuracy"], strict=True)) == pytest.approx(recorded, abs=1e-9)


def test_a_complete_study_is_not_redone_and_an_incomplete_one_is(studied):
    base, _, data_root = studied
    assert record_study("fig4_5", SIZE, base, data_root, progress=lambda line: None) == []
    (study_path(base, "tiny", "fig4_5", 4) / STUDY_FILE).unlink()
    assert record_study("fig4_5", SIZE, base, data_root, progress=lambda line: None) == [study_path(base, "tiny", "fig4_5", 4)]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (CONDITIONS_FILE, "kind,shots\nexact,\n", "has columns"),
        (NOISE_AWARE_FILE, "depolarizing,fine_tuning,accuracy\n0.1,as trained,1.5\n", r"has an accuracy outside \[0, 1\]"),
    ],
)
def test_a_damaged_study_file_is_named_by_path(studied, tmp_path, name, content, reason):
    base, _, _ = studied
    copy = tmp_path / "results"
    shutil.copytree(base / "device_study", copy / "device_study")
    damaged = study_path(copy, "tiny", "fig4_5", 3) / name
    damaged.write_text(content)
    with pytest.raises(DamagedRunError, match=f"{damaged}.*{reason}"):
        read_studies(copy, "tiny")


def test_only_the_studied_experiments_are_accepted(tmp_path):
    with pytest.raises(ValueError, match=r"^the device study covers \['fig4_5', 'fig6_7'\], not 'fig8'$"):
        record_study("fig8", SIZE, tmp_path)


def test_tolerated_finds_the_fewest_shots_and_the_largest_p_within_the_loss():
    import pandas as pd

    from qpconv.replication.device_study import tolerated
    from qpconv.replication.robustness import ConditionKind

    rows = [("exact", None, 0.0, 0.80), ("shots", 10, 0.0, 0.30), ("shots", 100, 0.0, 0.785), ("shots", 1000, 0.0, 0.795)]
    rows += [("depolarising", None, 1e-3, 0.797), ("depolarising", None, 1e-2, 0.70), ("depolarising", None, 3e-2, 0.795)]
    frame = pd.DataFrame(rows, columns=["kind", "shots", "depolarizing", "accuracy"]).assign(experiment="fig6_7", seed=3)
    summary = summarise_conditions(frame)
    assert tolerated(summary, "fig6_7", ConditionKind.SHOTS, points=1.0) == 1000
    assert tolerated(summary, "fig6_7", ConditionKind.SHOTS, points=2.0) == 100
    assert tolerated(summary, "fig6_7", ConditionKind.DEPOLARIZING, points=1.0) == 1e-3  # 3e-2 is within, 1e-2 is not
    assert tolerated(summary, "fig4_5", ConditionKind.SHOTS) is None
    with pytest.raises(ValueError, match=r"^tolerated compares shots or depolarising noise, not 'exact'$"):
        tolerated(summary, "fig6_7", ConditionKind.EXACT)


def test_the_as_trained_row_is_the_conditions_row_of_the_same_noise(studied):
    base, _, data_root = studied
    with_noise = StudySize(
        "reused", PRESET, 200, 200, (*CONDITIONS, DeviceCondition(depolarizing=0.1)), (0.1,), FineTuning(epochs=1)
    )
    record_study("fig4_5", with_noise, base, data_root, progress=lambda line: None)
    conditions, noise_aware = read_studies(base, "reused")
    noisy = conditions[conditions["depolarizing"] == 0.1].set_index("seed")["accuracy"]
    trained = noise_aware[noise_aware["fine_tuning"] == FineTuned.NONE.value].set_index("seed")["accuracy"]
    assert noisy.to_dict() == trained.to_dict()
    fallback, _ = read_studies(base, "tiny")  # the tiny study scores p = 0.1 only in its noise-aware rows
    assert (fallback["depolarizing"] == 0).all()
