"""Trained models kept next to the results: ``model.pt`` written atomically, read with ``weights_only``.

Book: How to run, section "What a run leaves".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from qpconv.cli import main
from qpconv.replication.experiments import get_experiment, keep_trained_model
from qpconv.replication.results import MODEL_FILE, DamagedRunError, read_model
from qpconv.replication.training import evaluate

TINY = ["--epochs", "1", "--train-size", "300", "--test-size", "200", "--seeds", "3", "4"]
PRESET = "e1-train300-test200-lr0.01"


@pytest.fixture(scope="module")
def recorded(fashion_mnist_root, tmp_path_factory) -> Path:
    """Tiny fig4_5 runs (quantum and classical, seeds 3 and 4) with their checkpoints."""
    base = tmp_path_factory.mktemp("runs")
    command = ["run", "fig4_5", *TINY, "--device", "cpu", "--data-root", str(fashion_mnist_root)]
    assert main([*command, "--results-dir", str(base / "results"), "--checkpoint-dir", str(base / "checkpoints")]) == 0
    return base


def run_dir(base: Path, model: str, seed: int, kind: str = "results") -> Path:
    return base / kind / "fig4_5" / PRESET / model / f"seed{seed}"


def test_a_quantum_run_keeps_its_trained_model_and_a_classical_run_does_not(recorded, fashion_mnist):
    assert not (run_dir(recorded, "classical", 3) / MODEL_FILE).exists()
    state = read_model(run_dir(recorded, "quantum-L3", 3))
    checkpoint = torch.load(run_dir(recorded, "quantum-L3", 3, "checkpoints") / "checkpoint.pt", weights_only=True)
    assert state.keys() == checkpoint["model"].keys()
    assert all(torch.equal(state[key], checkpoint["model"][key]) for key in state)

    variant = next(v for v in get_experiment("fig4_5").variants if v.name == "quantum-L3")
    model = variant.build("fashion-mnist")
    model.load_state_dict(state)
    loader = DataLoader(TensorDataset(*fashion_mnist.test[:64]), batch_size=64)
    loss, accuracy = evaluate(model, loader, device="cpu")
    assert 0.0 < loss < 10.0 and 0.0 <= accuracy <= 1.0


def test_keep_trained_model_rebuilds_model_pt_from_the_runs_own_checkpoint(recorded, tmp_path):
    base = Path(shutil.copytree(recorded, tmp_path / "copy"))
    folder = run_dir(base, "quantum-L3", 4)
    kept = read_model(folder)
    (folder / MODEL_FILE).unlink()
    path = keep_trained_model(folder, run_dir(base, "quantum-L3", 4, "checkpoints") / "checkpoint.pt")
    assert path == folder / MODEL_FILE
    rebuilt = read_model(folder)
    assert all(torch.equal(rebuilt[key], kept[key]) for key in kept)


def test_keep_trained_model_refuses_the_checkpoint_of_another_run(recorded, tmp_path):
    base = Path(shutil.copytree(recorded, tmp_path / "copy"))
    other = run_dir(base, "quantum-L3", 3, "checkpoints") / "checkpoint.pt"
    with pytest.raises(ValueError, match="is not the checkpoint of .*seed4: its metrics differ"):
        keep_trained_model(run_dir(base, "quantum-L3", 4), other)


def test_a_damaged_model_file_is_named_by_path(recorded, tmp_path):
    folder = Path(shutil.copytree(run_dir(recorded, "quantum-L3", 3), tmp_path / "run"))
    (folder / MODEL_FILE).write_bytes(b"not a torch file")
    with pytest.raises(DamagedRunError, match=f"{MODEL_FILE}.*cannot be read"):
        read_model(folder)
    (folder / MODEL_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="no trained model in"):
        read_model(folder)
