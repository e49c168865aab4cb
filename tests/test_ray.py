"""Sweeps on Ray: the same results as the local executor, a killed worker's run retried and resumed, the missing extra.

Book: How to run, section "On a Ray cluster". The Ray tests run on a local Ray instance of two CPUs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from torch_threads import torch_threads

from qpconv.cli import main
from qpconv.replication.executors import RayExecutor
from qpconv.replication.locks import LOCK_FILE
from qpconv.replication.results import read_run

SWEEP = ["--epochs", "2", "--train-size", "200", "--test-size", "100", "--seeds", "0", "1"]
"""Four quick runs: both models of fig4_5, seeds 0 and 1, 2 epochs on 200 training and 100 test images."""
PRESET = "e2-train200-test100-lr0.01"
RUNS = [(model, seed) for model in ("quantum-L3", "classical") for seed in (0, 1)]


def sweep(folder: Path, data_root: Path, *extra: str) -> list[str]:
    return [
        "run", "fig4_5", *SWEEP, "--device", "cpu", "--data-root", str(data_root),
        "--results-dir", str(folder / "results"), "--checkpoint-dir", str(folder / "checkpoints"), *extra,
    ]  # fmt: skip


def run_folder(folder: Path, model: str, seed: int) -> Path:
    return folder / "results" / "fig4_5" / PRESET / model / f"seed{seed}"


def assert_same_results(folder: Path, reference: Path) -> None:
    """metrics.csv equal but for the epochs' wall times; config.json equal but for the wall time and the device."""
    for model, seed in RUNS:
        here, there = run_folder(folder, model, seed), run_folder(reference, model, seed)
        rows = [[line.split(",")[:-1] for line in (f / "metrics.csv").read_text().splitlines()] for f in (here, there)]
        assert rows[0] == rows[1] and len(rows[0]) == 3, f"{model} seed{seed}"
        configs = [json.loads((f / "config.json").read_text()) for f in (here, there)]
        for config in configs:
            del config["wall_seconds"], config["device"]
        assert configs[0] == configs[1] and configs[0]["status"] == "complete", f"{model} seed{seed}"
        assert (here / "model.pt").is_file() == (model == "quantum-L3")


@pytest.fixture(scope="module")
def local_sweep(fashion_mnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sweep with the local executor and one torch thread, as every Ray task has."""
    folder = tmp_path_factory.mktemp("local")
    with torch_threads(1):
        assert main(sweep(folder, fashion_mnist_root)) == 0
    return folder


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance of two CPUs, shared by the tests of this module (the executor uses it as it is)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_a_sweep_on_ray_gives_the_local_executors_results_written_by_the_driver(
    local_sweep, local_ray, fashion_mnist_root, tmp_path, capsys
):
    """One run has a damaged checkpoint: it fails with the reason, the others train; --restart then trains it."""
    damaged = tmp_path / "checkpoints" / "fig4_5" / PRESET / "classical" / "seed1" / "checkpoint.pt"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"")
    assert main(sweep(tmp_path, fashion_mnist_root, "--executor", "ray")) == 1
    captured = capsys.readouterr()
    assert "summary: 3 trained, 1 failed" in captured.out and captured.out.count(": complete\n") == 3, captured.out
    assert f"qpconv run: failed: fig4_5/{PRESET}/classical/seed1: checkpoint {damaged} cannot be read" in captured.err
    assert "1 torch threads" in json.loads((run_folder(tmp_path, "classical", 0) / "config.json").read_text())["device"]

    assert main(sweep(tmp_path, fashion_mnist_root, "--executor", "ray", "--restart")) == 0
    assert "summary: 3 skipped, 1 trained" in capsys.readouterr().out, "complete runs are read on the driver and skipped"
    assert_same_results(tmp_path, local_sweep)


def test_a_worker_killed_mid_run_is_retried_and_resumes_from_its_checkpoint(
    local_sweep, local_ray, fashion_mnist_root, tmp_path, capsys
):
    """The worker training quantum-L3 seed 0 gets SIGKILL in its second epoch; its pid is in the run's lock file."""
    run_checkpoints = tmp_path / "checkpoints" / "fig4_5" / PRESET / "quantum-L3" / "seed0"
    killed: list[int] = []

    def kill_in_epoch_2() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            holder = (run_checkpoints / LOCK_FILE).read_text().split() if (run_checkpoints / LOCK_FILE).is_file() else []
            if (run_checkpoints / "checkpoint.pt").is_file() and holder[:1] == ["pid"]:
                killed.append(int(holder[1]))
                os.kill(killed[0], signal.SIGKILL)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_in_epoch_2, daemon=True)
    killer.start()
    assert main(sweep(tmp_path, fashion_mnist_root, "--executor", "ray")) == 0
    killer.join(timeout=1)
    assert killed, "the worker was not killed"
    out = capsys.readouterr().out
    assert f"fig4_5/{PRESET}/quantum-L3/seed0: resuming on cpu" in out, out
    assert all(read_run(run_folder(tmp_path, *run)).completed for run in RUNS)
    assert_same_results(tmp_path, local_sweep)


def test_without_ray_the_executor_names_the_extra_before_any_work(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # Python's own marker of a module that cannot be imported
    with pytest.raises(ImportError, match=r"^--executor ray needs ray, which is not installed: pip install 'qpconv\[ray\]'$"):
        RayExecutor()
    assert main(sweep(tmp_path, tmp_path / "data", "--executor", "ray")) == 1
    err = capsys.readouterr().err
    assert err == "qpconv run: error: --executor ray needs ray, which is not installed: pip install 'qpconv[ray]'\n"
    assert not (tmp_path / "results").exists(), "nothing was done"


def test_an_address_needs_the_ray_executor(tmp_path, capsys):
    assert main(sweep(tmp_path, tmp_path / "data", "--address", "auto")) == 2
    assert "--address is the address of a Ray cluster; it needs --executor ray" in capsys.readouterr().err


def test_ray_executor_counts_are_checked():
    pytest.importorskip("ray")
    with pytest.raises(ValueError, match=r"^max_retries must be an integer of at least 0, got -1$"):
        RayExecutor(max_retries=-1)
    with pytest.raises(ValueError, match=r"^num_cpus sizes a local Ray instance; a cluster at an address has its own$"):
        RayExecutor("auto", num_cpus=2)
