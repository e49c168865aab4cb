"""``qpconv run --dry-run``: each planned run's state and the hours left at the recorded pace."""

from __future__ import annotations

import re

import pytest
from synthetic_runs import synthetic_run, write_synthetic_run

from qpconv.cli import main
from qpconv.replication.planning import describe_plan, plan_sweep
from qpconv.replication.results import Divergence, InspectedRun, RunState, RunStatus, inspect_run


def _epochs(*seconds: float) -> list[dict[str, float]]:
    return [
        {"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0, "test_acc": 0.5, "lr": 0.01, "seconds": s}
        for e, s in enumerate(seconds, start=1)
    ]


@pytest.fixture
def results(tmp_path):
    """fig6_7: quantum seed 0 complete, seed 1 after 1 of 20 epochs, a tuning run; classical seed 0 diverged, seed 1 damaged.

    The synthetic runs train on 100 images: the quantum model's recorded pace is the median of
    0.1, 0.3 (seed 0), 0.2 (seed 1) and 0.4 (tune) seconds per image, 0.25; the diverged run's 9.0
    must not count.
    """
    write_synthetic_run(tmp_path, synthetic_run("quantum-L3", 0, _epochs(10.0, 30.0), epochs=2))
    write_synthetic_run(tmp_path, synthetic_run("quantum-L3", 1, _epochs(20.0), epochs=20, status=RunStatus.RUNNING))
    tuning = synthetic_run("quantum-L3", 0, _epochs(40.0), preset="tune", epochs=20, status=RunStatus.RUNNING)
    write_synthetic_run(tmp_path, tuning)
    write_synthetic_run(tmp_path, synthetic_run("classical", 0, _epochs(900.0), epochs=20, status=RunStatus.DIVERGED))
    damaged = write_synthetic_run(tmp_path, synthetic_run("classical", 1, _epochs(900.0), epochs=20))
    (damaged / "config.json").write_text("{not json")
    return tmp_path


def test_every_planned_run_gets_its_state_and_the_hours_left_at_the_recorded_pace(results):
    plan = {(item.run.variant.name, item.run.seed): item for item in plan_sweep("fig6_7", "full", results_dir=results)}
    assert len(plan) == 2 * 3  # quantum-L3 and classical, seeds 0 1 2 (fig6_7 runs no extra seeds)
    states = {key: (item.state, item.epochs_done, item.epochs_left) for key, item in plan.items()}
    assert states[("quantum-L3", 0)] == (RunState.COMPLETE, 2, 0)
    assert states[("quantum-L3", 1)] == (RunState.PARTIAL, 1, 19)
    assert states[("quantum-L3", 2)] == (RunState.NEW, 0, 20)
    assert states[("classical", 0)] == (RunState.DIVERGED, 1, 0)
    assert states[("classical", 1)] == (RunState.DAMAGED, 0, 20)
    assert plan[("quantum-L3", 1)].seconds_per_epoch == pytest.approx(0.25 * 50_000)  # the full preset trains on 50,000
    assert plan[("quantum-L3", 1)].hours_left == pytest.approx(19 * 0.25 * 50_000 / 3600)
    assert plan[("quantum-L3", 0)].hours_left == 0.0
    assert plan[("classical", 2)].hours_left is None  # only a diverged and a damaged run of it: no pace


def test_a_tuning_plan_estimates_its_45000_training_images(results):
    (item,) = plan_sweep("fig6_7", "tune", models=["quantum-L3"], results_dir=results)
    assert (item.state, item.seconds_per_epoch) == (RunState.PARTIAL, pytest.approx(0.25 * 45_000))


def test_the_description_ends_with_the_totals_and_names_the_models_without_a_pace(results):
    lines = describe_plan(plan_sweep("fig6_7", "full", seeds=[0, 1], results_dir=results))
    assert lines[0] == "fig6_7/full/quantum-L3/seed0  complete 2/20 epochs"
    assert lines[1] == f"fig6_7/full/quantum-L3/seed1  partial 1/20 epochs  19 left  ~{19 * 0.25 * 50_000 / 3600:.2f} h"
    assert lines[3] == "fig6_7/full/classical/seed1  damaged 0/20 epochs  20 left  no recorded pace"
    assert lines[-1] == (
        f"to train: 2 of 4 runs, 39 epochs, ~{19 * 0.25 * 50_000 / 3600:.2f} h on one core at the recorded pace "
        "for 1 of them; no recorded pace for classical"
    )


def test_dry_run_prints_the_plan_and_trains_nothing(results, tmp_path, capsys):
    argv = ["run", "fig6_7", "--preset", "full", "--seeds", "1", "--models", "quantum-L3", "--results-dir", str(results)]
    assert main([*argv, "--dry-run", "--data-root", str(tmp_path / "no-data")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("fig6_7/full/quantum-L3/seed1  partial 1/20 epochs  19 left")
    assert out[-1].startswith("to train: 1 of 1 runs, 19 epochs")
    assert not (tmp_path / "no-data").exists() and not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--models", "quantum-L9"], "unknown model of fig6_7 'quantum-L9'"),
        (["--seeds", "0", "0"], r"seeds must be distinct; repeated: \[0\]"),
        (["--results-dir", "FILE"], r"--results-dir .*FILE is a file, not a folder"),
    ],
)
def test_dry_run_refuses_bad_input_with_one_line(extra, message, tmp_path, capsys):
    (tmp_path / "FILE").write_text("")
    extra = [str(tmp_path / "FILE") if value == "FILE" else value for value in extra]
    assert main(["run", "fig6_7", "--preset", "full", "--dry-run", *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err)


def test_inspect_run_reads_a_folder_once_and_reports_damage_instead_of_raising(tmp_path):
    assert inspect_run(tmp_path / "nothing") == InspectedRun(RunState.NEW, None)
    started = write_synthetic_run(tmp_path, synthetic_run("quantum-L3", 0, [], epochs=20, status=RunStatus.RUNNING))
    found = inspect_run(started)  # config.json written, no epoch finished yet
    assert (found.state, found.epochs_done, found.damage) == (RunState.NEW, 0, None) and found.record is not None
    first = synthetic_run("quantum-L3", 1, [], epochs=20, status=RunStatus.DIVERGED)  # non-finite loss in epoch 1
    diverged = inspect_run(write_synthetic_run(tmp_path, first))
    assert (diverged.state, diverged.divergence) == (RunState.DIVERGED, Divergence(0, "at chance"))  # skipped, not retrained
    assert found.divergence is None
    (started / "metrics.csv").write_text("epoch,oops\n1,2\n")
    damaged = inspect_run(started)
    assert (damaged.state, damaged.record, damaged.epochs_done) == (RunState.DAMAGED, None, 0)
    assert damaged.damage is not None and damaged.damage.path == started / "metrics.csv"
