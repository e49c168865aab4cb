"""Nothing lost, nothing silent: determinism, kill -9, damaged files, run locks, divergence, early CLI errors.

Book: How to run, section "Reliability" (which states what these tests check).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch_threads import torch_threads

from qpconv import QuantumPointwiseConv2d
from qpconv.cli import main
from qpconv.replication.claims import summarise
from qpconv.replication.experiments import load_runs
from qpconv.replication.locks import LOCK_FILE, run_lock
from qpconv.replication.models import build_model
from qpconv.replication.plotting import describe_runs, runs_frame
from qpconv.replication.recipe import TrainingRecipe
from qpconv.replication.results import DamagedRunError, Divergence, RunOutcome, read_run
from qpconv.replication.training import CheckpointMismatchError, DamagedCheckpointError, TrainingDiverged, train

TINY = ["--epochs", "1", "--train-size", "500", "--test-size", "200", "--seeds", "3"]
"""A run small enough for a test: 1 epoch on 500 training and 200 test images, seed 3."""
TINY_PRESET = "e1-train500-test200-lr0.01"


def qpconv_run(tmp_path: Path, data_root: Path, *extra: str, experiment: str = "fig4_5") -> list[str]:
    return [
        "run", experiment, *extra, "--device", "cpu", "--data-root", str(data_root),
        "--results-dir", str(tmp_path / "results"), "--checkpoint-dir", str(tmp_path / "checkpoints"),
    ]  # fmt: skip


def without_seconds(metrics_file: Path) -> list[list[str]]:
    rows = [line.split(",") for line in metrics_file.read_text().splitlines()]
    return [row[:-1] for row in rows]  # the last column is the epoch's wall time


# ------------------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_and_backward_are_bit_identical_for_1_2_and_4_threads(dtype):
    torch.manual_seed(0)
    layer = QuantumPointwiseConv2d(64, 64, 2, dtype=dtype)
    x = torch.randn(64, 64, 7, 7, dtype=dtype)  # 3,136 pixels: many chunks, several groups

    def values_and_grads():
        pixels = x.clone().requires_grad_(True)
        layer.zero_grad(set_to_none=True)
        out = layer(pixels)
        (out * torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)).sum().backward()
        return out.detach(), pixels.grad, layer.weights.grad

    with torch_threads(1):
        reference = values_and_grads()
    for threads in (2, 4, 1, 2):
        with torch_threads(threads):
            repeated = values_and_grads()
        for name, a, b in zip(("outputs", "input grads", "weight grads"), reference, repeated):
            assert torch.equal(a, b), f"{name} differ with {threads} threads"


def test_a_two_thread_run_repeated_gives_identical_metrics(fashion_mnist_root, tmp_path):
    for attempt in ("a", "b"):
        with torch_threads(2):
            assert main(qpconv_run(tmp_path / attempt, fashion_mnist_root, *TINY)) == 0
    for model in ("quantum-L3", "classical"):
        files = [tmp_path / a / "results" / "fig4_5" / TINY_PRESET / model / "seed3" / "metrics.csv" for a in "ab"]
        assert without_seconds(files[0]) == without_seconds(files[1]), model


def test_kill_9_in_the_middle_of_an_epoch_then_resume_equals_the_uninterrupted_run(fashion_mnist_root, tmp_path):
    """Both runs at 2 threads, as separate processes; the first is killed with SIGKILL during its second epoch."""
    args = ["--epochs", "3", "--train-size", "800", "--test-size", "200", "--seeds", "0"]
    environment = {**os.environ, "OMP_NUM_THREADS": "2", "CI": "1"}
    command = [sys.executable, "-m", "qpconv", *qpconv_run(tmp_path / "killed", fashion_mnist_root, *args)]
    results = tmp_path / "killed" / "results" / "fig4_5" / "e3-train800-test200-lr0.01" / "quantum-L3" / "seed0"
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if (results / "metrics.csv").is_file() and len((results / "metrics.csv").read_text().splitlines()) == 2:
            time.sleep(0.5)  # well into epoch 2
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    assert process.wait(timeout=60) == -signal.SIGKILL, "the run finished before it could be killed"
    assert subprocess.run(command, env=environment, capture_output=True).returncode == 0
    uninterrupted = [sys.executable, "-m", "qpconv", *qpconv_run(tmp_path / "whole", fashion_mnist_root, *args)]
    assert subprocess.run(uninterrupted, env=environment, capture_output=True).returncode == 0
    for model in ("quantum-L3", "classical"):
        killed, whole = (
            tmp_path / name / "results" / "fig4_5" / "e3-train800-test200-lr0.01" / model / "seed0"
            for name in ("killed", "whole")
        )
        assert without_seconds(killed / "metrics.csv") == without_seconds(whole / "metrics.csv"), model
        assert len(without_seconds(whole / "metrics.csv")) == 4


# ------------------------------------------------------------------------------------------- checkpoints


class Opaque:
    """An object that only unsafe loading could restore."""


@pytest.mark.parametrize(
    "write",
    [
        lambda path: path.write_bytes(b""),
        lambda path: path.write_bytes(b"PK\x03\x04 half a zip archive"),
        lambda path: path.write_bytes(os.urandom(256)),
        lambda path: torch.save({"model": {}}, path),
        lambda path: torch.save({"run_tag": Opaque()}, path),
    ],
    ids=["empty", "truncated", "random", "missing-keys", "unsafe-object"],
)
def test_an_unreadable_checkpoint_is_one_clear_line_that_never_suggests_unsafe_loading(
    fashion_mnist_root, tmp_path, capsys, write
):
    checkpoint = tmp_path / "checkpoints" / "fig4_5" / TINY_PRESET / "quantum-L3" / "seed3" / "checkpoint.pt"
    checkpoint.parent.mkdir(parents=True)
    write(checkpoint)
    assert main(qpconv_run(tmp_path, fashion_mnist_root, *TINY)) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if "quantum-L3" in line]
    assert len(failed) == 1 and f"checkpoint {checkpoint} cannot be read" in failed[0], err
    assert "delete it, or rerun with --restart to move it aside" in failed[0]
    assert "weights_only" not in err and "Traceback" not in err
    assert (tmp_path / "results" / "fig4_5" / TINY_PRESET / "classical" / "seed3" / "config.json").is_file(), (
        "the other run still ran"
    )

    assert main([*qpconv_run(tmp_path, fashion_mnist_root, *TINY), "--restart"]) == 0
    assert list(checkpoint.parent.glob("checkpoint.pt.moved-*")), "--restart moves the damaged checkpoint aside"
    assert read_run(tmp_path / "results" / "fig4_5" / TINY_PRESET / "quantum-L3" / "seed3").completed


def test_a_checkpoint_of_another_configuration_names_what_differs(fashion_mnist, tmp_path):
    from qpconv.replication.loading import make_loaders, stratified_subset

    loaders = make_loaders(stratified_subset(fashion_mnist.train, 100, 0), stratified_subset(fashion_mnist.test, 100, 0), seed=0)
    model = build_model("fashion-mnist", "classical")
    checkpoint = tmp_path / "checkpoint.pt"
    train(model, *loaders, TrainingRecipe(epochs=1), checkpoint_path=checkpoint, run_tag={"model": "classical", "seed": 0})
    with pytest.raises(CheckpointMismatchError) as info:
        train(
            model,
            *loaders,
            TrainingRecipe(epochs=1, lr=0.003),
            checkpoint_path=checkpoint,
            run_tag={"model": "quantum-L3", "seed": 0},
        )
    message = str(info.value)
    assert "recipe.lr is 0.01 there, 0.003 here" in message and "run.model is 'classical' there, 'quantum-L3' here" in message
    assert "seed" not in message.split("configuration:")[1].split("; delete")[0], "only the differing keys are named"
    assert len(message) < 300


def test_damaged_checkpoint_error_from_train(fashion_mnist, tmp_path):
    from qpconv.replication.loading import make_loaders, stratified_subset

    loaders = make_loaders(stratified_subset(fashion_mnist.train, 100, 0), stratified_subset(fashion_mnist.test, 100, 0), seed=0)
    (tmp_path / "checkpoint.pt").write_bytes(b"\x80\x04")
    with pytest.raises(DamagedCheckpointError, match=r"checkpoint .*checkpoint\.pt cannot be read \(.*\); delete it"):
        train(
            build_model("fashion-mnist", "classical"),
            *loaders,
            TrainingRecipe(epochs=1),
            checkpoint_path=tmp_path / "checkpoint.pt",
        )


# ------------------------------------------------------------------------------------------- run lock


def test_a_second_process_on_the_same_run_refuses_and_names_the_holder(fashion_mnist_root, tmp_path, capsys):
    folder = tmp_path / "checkpoints" / "fig4_5" / TINY_PRESET / "quantum-L3" / "seed3"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from pathlib import Path; from qpconv.replication.locks import run_lock\n"
         f"import time\nwith run_lock(Path({str(folder)!r}), 'x'):\n    print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(qpconv_run(tmp_path, fashion_mnist_root, *TINY)) == 1
        err = capsys.readouterr().err
        assert f"fig4_5/{TINY_PRESET}/quantum-L3/seed3 is being trained by another process (pid {holder.pid} on " in err
        assert read_run(tmp_path / "results" / "fig4_5" / TINY_PRESET / "classical" / "seed3").completed, "other runs go on"
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing anything by hand: its lock is simply taken over
    assert main(qpconv_run(tmp_path, fashion_mnist_root, *TINY)) == 0
    assert (folder / LOCK_FILE).read_text() == ""


def test_a_stale_lock_file_of_a_dead_process_is_taken_over(tmp_path):
    (tmp_path / LOCK_FILE).write_text("pid 999999 on elsewhere, since 2026-01-01 00:00:00\n")
    with run_lock(tmp_path, "run"):
        assert f"pid {os.getpid()}" in (tmp_path / LOCK_FILE).read_text()


# ------------------------------------------------------------------------------------------- damaged results


@pytest.fixture
def recorded(fashion_mnist_root, tmp_path_factory):
    """A finished tiny run of fig4_5 (both models), copied fresh for each test."""
    base = tmp_path_factory.mktemp("recorded")
    assert main(qpconv_run(base, fashion_mnist_root, *TINY)) == 0
    return base


def copy_tree(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda run: (run / "metrics.csv").write_text(""), "is empty"),
        (lambda run: (run / "metrics.csv").write_text((run / "metrics.csv").read_text().splitlines()[0] + "\n"), "0 epoch row"),
        (lambda run: (run / "metrics.csv").write_text("epoch,train_loss\n1,0.5\n"), "columns"),
        (lambda run: (run / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda run: (run / "config.json").write_text(json.dumps({"model": "x"})), "missing key"),
    ],
    ids=["emptied-metrics", "truncated-metrics", "wrong-columns", "invalid-json", "no-schema"],
)
def test_a_damaged_run_is_named_skipped_by_readers_and_retrained_by_the_runner(
    recorded, fashion_mnist_root, tmp_path, capsys, damage, reason
):
    base = copy_tree(recorded, tmp_path / "copy")
    run = base / "results" / "fig4_5" / TINY_PRESET / "quantum-L3" / "seed3"
    damage(run)
    with pytest.raises(DamagedRunError, match=reason) as info:
        read_run(run)
    assert str(run) in str(info.value)
    with pytest.warns(UserWarning, match=rf"damaged run: {run}.*; left out"):
        runs = load_runs("fig4_5", TINY_PRESET, base / "results")
    assert [r.config.model for r in runs] == ["classical"]
    assert list(summarise(runs).index) == ["classical"]

    assert main(["list", "--results-dir", str(base / "results")]) == 1
    out, err = capsys.readouterr()
    assert "classical" in out and f"damaged  damaged run: {run}" in err and "Traceback" not in err
    assert main(qpconv_run(base, fashion_mnist_root, *TINY)) == 0
    assert "treated as incomplete" in capsys.readouterr().out
    assert read_run(run).completed


def test_the_recorded_memory_format_is_read_and_older_runs_read_as_contiguous(recorded, tmp_path):
    base = copy_tree(recorded, tmp_path / "copy")
    run = base / "results" / "fig4_5" / TINY_PRESET / "quantum-L3" / "seed3"
    config = json.loads((run / "config.json").read_text())
    assert read_run(run).outcome.memory_format == config["memory_format"] == "torch.channels_last"
    del config["memory_format"]  # as written before the layout was recorded
    (run / "config.json").write_text(json.dumps(config))
    assert read_run(run).outcome.memory_format == "torch.contiguous_format"
    (run / "config.json").write_text(json.dumps(config | {"memory_format": 3}))
    with pytest.raises(DamagedRunError, match=r"'memory_format' is 3, expected str"):
        read_run(run)


@pytest.mark.parametrize(
    "divergence", [None, {"epoch": 2}, {"epoch": "2", "reason": "loss nan"}], ids=["absent", "no-reason", "str-epoch"]
)
def test_a_diverged_run_must_say_where_and_why(recorded, tmp_path, divergence):
    base = copy_tree(recorded, tmp_path / "copy")
    run = base / "results" / "fig4_5" / TINY_PRESET / "quantum-L3" / "seed3"
    config = json.loads((run / "config.json").read_text())
    written = config | {"status": "diverged", "divergence": {"epoch": 2, "reason": "loss nan"}}
    (run / "config.json").write_text(json.dumps(written))
    assert read_run(run).outcome.divergence == Divergence(2, "loss nan")
    assert RunOutcome.from_json(written).to_json()["divergence"] == {"epoch": 2, "reason": "loss nan"}  # round trip
    (run / "config.json").write_text(json.dumps(written | {"divergence": divergence}))
    with pytest.raises(DamagedRunError, match=r"a diverged run must say at which epoch and why"):
        read_run(run)


# ------------------------------------------------------------------------------------------- divergence


def test_a_huge_learning_rate_is_recorded_as_diverged_and_never_averaged_in(fashion_mnist_root, tmp_path, capsys):
    """At lr 1e6 Adam's steps make losses of 1e21 and accuracy sits at chance: caught at epoch 3 (the recipe's rule)."""
    tiny = ["--epochs", "4", "--train-size", "500", "--test-size", "200", "--seeds", "3", "--lr", "1e6"]
    assert main(qpconv_run(tmp_path, fashion_mnist_root, *tiny)) == 1
    out, err = capsys.readouterr()
    assert "summary: 2 diverged" in out and err.count("qpconv run: diverged: ") == 2, err
    runs = load_runs("fig4_5", "e4-train500-test200-lr1e+06", tmp_path / "results")
    assert [run.outcome.status.value for run in runs] == ["diverged", "diverged"]
    for run in runs:
        divergence = run.outcome.divergence
        assert divergence is not None and divergence.epoch <= 3, divergence
        assert "chance level" in divergence.reason or "non-finite" in divergence.reason
        assert json.loads((run.path / "config.json").read_text())["status"] == "diverged"
    summary = summarise(runs)
    assert summary["seeds"].tolist() == [0, 0] and summary["diverged"].tolist() == [1, 1]
    assert "diverged, not drawn: quantum-L3 seed 3, classical seed 3" in describe_runs(runs)
    # a second call skips them and still says so
    assert main(qpconv_run(tmp_path, fashion_mnist_root, *tiny)) == 1
    out = capsys.readouterr().out
    for run in runs:
        assert f"diverged in {run.outcome.divergence}, skipped; --restart trains it again" in out
    assert main(["list", "--results-dir", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert all(f"({run.outcome.divergence})" in out for run in runs), out


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("classical", r"the training loss became nan in batch 1"), ("quantum", r"non-finite activations reached a quantum layer")],
)
def test_non_finite_weights_stop_training_with_the_reason(fashion_mnist, kind, reason):
    from qpconv.replication.loading import make_loaders, stratified_subset

    loaders = make_loaders(stratified_subset(fashion_mnist.train, 200, 0), stratified_subset(fashion_mnist.test, 100, 0), seed=0)
    model = build_model("fashion-mnist", kind, n_layers=1)
    with torch.no_grad():
        model.features[0].weight[0, 0, 0, 0] = float("nan")  # as after an exploding step
    with pytest.raises(TrainingDiverged, match=rf"training diverged in epoch 1: {reason}") as info:
        train(model, *loaders, TrainingRecipe(epochs=2))
    assert info.value.metrics == [] and info.value.epoch == 1


def test_chance_level_accuracy_stops_a_run_as_diverged(fashion_mnist, tmp_path):
    from qpconv.replication.loading import make_loaders, stratified_subset

    loaders = make_loaders(stratified_subset(fashion_mnist.train, 200, 0), stratified_subset(fashion_mnist.test, 100, 0), seed=0)
    model = build_model("fashion-mnist", "classical")
    with torch.no_grad():
        for parameter in model.parameters():  # constant logits, and a learning rate too small to change them
            parameter.zero_()
    with pytest.raises(
        TrainingDiverged, match=r"training diverged in epoch 2: training accuracy 0\.\d+ after 2 epochs is at chance"
    ):
        train(model, *loaders, TrainingRecipe(epochs=3, lr=1e-12, stop_at_chance_after=2))


def test_diverged_runs_are_not_drawn(recorded):
    from synthetic_runs import synthetic_run

    from qpconv.replication.results import RunStatus

    rows = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0, "test_acc": 0.5, "lr": 0.01, "seconds": 1.0}]
    runs = [synthetic_run("classical", 0, rows), synthetic_run("classical", 1, [], status=RunStatus.DIVERGED)]
    frame = runs_frame(runs)
    assert set(frame["seed"]) == {0}


# ------------------------------------------------------------------------------------------- early CLI errors


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seeds", "4294967296"], r"seed 4294967296 is too large: seeds must be below 2\*\*32"),
        (["--device", "mps"], r"device 'mps' is not supported by the runner; use cpu, cuda or cuda:N"),
        (["--device", "gpu0"], r"device 'gpu0' is not a device name"),
        (["--epochs", "0"], r"epochs must be a positive integer, got 0"),
        (["--lr", "-1"], r"lr must be a positive finite number, got -1.0"),
        (["--train-size", "3"], r"train_size must be an integer of at least 10"),
        (["--train-size", "70000"], r"train_size 70000 is more than the 60,000 training images of Fashion-MNIST"),
        (["--test-size", "10001"], r"test_size 10001 is more than the 10,000 test images of Fashion-MNIST"),
    ],
)
def test_bad_values_exit_2_with_one_line_before_any_data_is_loaded(tmp_path, offline, capsys, extra, message):
    # the data root is empty and the network is off: had any data been loaded, the error would be about data
    argv = ["run", "fig4_5", *extra, "--data-root", str(tmp_path / "empty"), "--results-dir", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and __import__("re").search(message, err), err


def test_bad_folders_exit_2_before_any_epoch(tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for option in ("--results-dir", "--checkpoint-dir"):
        for value, message in ((a_file, "is a file, not a folder"), (a_file / "below", "cannot be written")):
            assert main(["run", "fig4_5", option, str(value), "--data-root", str(tmp_path / "empty")]) == 2
            err = capsys.readouterr().err
            assert f"qpconv run: error: {option} {value} {message}" in err, err
    assert main(["run", "fig4_5", "--data-root", str(a_file)]) == 2
    assert f"the data root {a_file} is a file, not a folder" in capsys.readouterr().err
    assert main(["data", "prepare", "fashion-mnist", "--from", str(tmp_path), "--root", str(a_file)]) == 2
    assert f"the data root {a_file} is a file, not a folder" in capsys.readouterr().err
    assert main(["data", "prepare", "fashion-mnist", "--from", str(tmp_path), "--root", str(a_file / "below")]) == 2
    assert f"the data root {a_file / 'below'} lies below {a_file}, which is a file" in capsys.readouterr().err
    assert main(["list", "--results-dir", str(a_file)]) == 2
    assert f"qpconv list: error: --results-dir {a_file} is a file, not a folder" in capsys.readouterr().err


def test_custom_values_are_stored_under_a_name_derived_from_them(recorded):
    from qpconv.replication.experiments import FULL, QUICK, custom_preset

    run = read_run(recorded / "results" / "fig4_5" / TINY_PRESET / "quantum-L3" / "seed3")
    assert (run.config.preset, run.config.recipe.epochs, run.config.train_size, run.config.test_size) == (
        TINY_PRESET,
        1,
        500,
        200,
    )
    assert custom_preset(FULL, lr=0.003).name == "e20-trainall-testall-lr0.003"
    assert custom_preset(QUICK, epochs=20, train_size=None).name == "e20-train4000-test1000-lr0.01"
    assert custom_preset(QUICK) is QUICK and custom_preset(QUICK, epochs=2, lr=0.01) is QUICK


# ------------------------------------------------------------------------------------------- the layer


def test_outputs_do_not_depend_on_the_scale_of_a_pixel_in_float32():
    torch.manual_seed(0)
    reference_layer = QuantumPointwiseConv2d(20, 15, 2, dtype=torch.float64)
    layer = QuantumPointwiseConv2d(20, 15, 2)
    layer.load_state_dict({"weights": reference_layer.weights.float()})
    x = torch.randn(3, 20, 2, 2, dtype=torch.float64)
    reference = reference_layer(x)
    for scale in (1e-30, 1e-20, 1e-5, 1.0, 1e5, 1e20, 1e30):
        out = layer((x * scale).float())
        assert torch.isfinite(out).all() and (out.double() - reference).abs().max() < 1e-5, scale


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_layers_compute_in_float32(dtype):
    torch.manual_seed(0)
    reference_layer = QuantumPointwiseConv2d(20, 15, 2, dtype=torch.float64)
    layer = QuantumPointwiseConv2d(20, 15, 2, dtype=dtype)
    layer.load_state_dict({"weights": reference_layer.weights.to(dtype)})
    x = torch.randn(3, 20, 2, 2, dtype=torch.float64)
    inputs = x.to(dtype).requires_grad_(True)
    out = layer(inputs)
    out.sum().backward()
    assert out.dtype == dtype and inputs.grad.dtype == dtype and layer.weights.grad.dtype == dtype
    assert (out.double() - reference_layer(x)).abs().max() < (2e-3 if dtype == torch.float16 else 3e-2)


@pytest.mark.parametrize("shape", [(0, 20, 3, 3), (2, 20, 0, 3), (2, 20, 3, 0)])
def test_empty_batches_give_empty_outputs(shape):
    """``nn.Conv2d`` gives an empty output for N = 0 (and refuses H or W = 0); this layer gives one for all three."""
    layer = QuantumPointwiseConv2d(20, 15, 2)
    inputs = torch.randn(shape, requires_grad=True)
    out = layer(inputs)
    assert out.shape == (shape[0], 15, shape[2], shape[3])
    if shape[0] == 0:
        assert out.shape == torch.nn.Conv2d(20, 15, 1)(inputs).shape
    out.sum().backward()
    assert inputs.grad.shape == shape and torch.equal(layer.weights.grad, torch.zeros_like(layer.weights))
