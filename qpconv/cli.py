"""The ``qpconv`` command line: run the experiments, get the data, list runs, benchmark.

Book: Replicating Figs. 4-5 (section "Running the experiments"); How to run (section "Reliability").

Usage::

    qpconv run EXPERIMENT [--preset quick|full] [--seeds 0 1 2] [--models M ...] [--epochs N] [--train-size N]
                          [--test-size N] [--lr LR] [--device cpu|cuda[:N]] [--restart]
                          [--data-root DIR] [--results-dir DIR] [--checkpoint-dir DIR]
                          [--executor local|ray] [--address ADDR] [--dry-run]
    qpconv data prepare fashion-mnist|cifar10 --from PATH [--root DIR]
    qpconv data download fashion-mnist|cifar10 [--root DIR]
    qpconv data get fashion-mnist|cifar10 ... [--root DIR]   (whatever works: present, local copy, download)
    qpconv list [--results-dir DIR]
    qpconv bench [ARGS...]            (forwarded to qpconv.bench.main)
    qpconv --version

``--epochs``, ``--train-size``, ``--test-size`` and ``--lr`` change the chosen preset; the
runs are then stored under a name derived from all its values (see
:func:`qpconv.replication.experiments.custom_preset`).

Every value and path is checked before any data is loaded. Exit codes: 0 success; 1 the
work failed (missing data, a run that diverged or could not be trained, a damaged
recorded run); 2 bad command line (unknown experiment or preset, bad seeds or sizes, a
device that is not there, a folder that cannot be written, a bad source path). Every
error is one line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import __version__

__all__ = ["build_parser", "main"]

SEED_LIMIT = 2**32
"""Seeds must be below this: numpy's generator, seeded with every run's seed, accepts no more."""


def _replication() -> Any:
    """The replication wing's modules the commands need, or an ImportError naming the extra."""
    from .replication import acquire, datasets, executors, experiments, loading, planning, results, training

    return argparse.Namespace(
        acquire=acquire,
        datasets=datasets,
        executors=executors,
        experiments=experiments,
        loading=loading,
        planning=planning,
        results=results,
        training=training,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``qpconv`` (one subparser per command, each with ``--help``)."""
    wing = _replication()
    experiments, datasets = wing.experiments, wing.datasets
    parser = argparse.ArgumentParser(prog="qpconv", description="Quantum pointwise convolution: experiments and data.")
    parser.add_argument("--version", action="version", version=f"qpconv {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="train an experiment's models (resumes interrupted runs, skips complete ones)",
        description="Train every model of EXPERIMENT for every seed. Complete runs are skipped, "
        "interrupted ones resume from their last finished epoch, diverged ones are recorded as such.",
    )
    run.add_argument(
        "experiment",
        choices=list(experiments.EXPERIMENTS),
        metavar="EXPERIMENT",
        help="; ".join(e.description for e in experiments.EXPERIMENTS.values()),
    )
    run.add_argument("--preset", choices=list(experiments.PRESETS), default="quick", help="default: quick")
    run.add_argument(
        "--seeds", nargs="+", type=int, metavar="SEED", help="distinct integers in [0, 2**32); default: the preset's"
    )
    run.add_argument(
        "--models", nargs="+", metavar="MODEL", help="only these models of the experiment (e.g. quantum-L3); default: all"
    )
    run.add_argument("--epochs", type=int, help="change the preset's number of epochs")
    run.add_argument("--train-size", type=int, help="change the preset's training images (a stratified subset)")
    run.add_argument("--test-size", type=int, help="change the preset's test images (a stratified subset)")
    run.add_argument("--lr", type=float, help="change the preset's learning rate")
    run.add_argument("--device", help="cpu, cuda or cuda:N; default: cuda when available, else cpu")
    run.add_argument(
        "--restart", action="store_true", help="train runs that are not complete from epoch 1, moving their checkpoints aside"
    )
    run.add_argument("--data-root", help="data folder; default: $QPCONV_DATA, else data/")
    run.add_argument("--results-dir", default=str(experiments.DEFAULT_RESULTS_DIR), help="default: %(default)s")
    run.add_argument(
        "--checkpoint-dir",
        help=f"default: {wing.executors.DEFAULT_CHECKPOINT_DIR} (local); with --executor ray, given means a folder that "
        "every node shares, absent a folder local to each worker's node",
    )
    run.add_argument(
        "--executor",
        choices=[kind.value for kind in wing.executors.ExecutorKind],
        default=wing.executors.ExecutorKind.LOCAL.value,
        help="local: one run after another in this process; ray: one Ray task per run (needs qpconv[ray]). default: %(default)s",
    )
    run.add_argument(
        "--address", help="with --executor ray: the Ray cluster's address (e.g. auto); default: start Ray on this machine"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="train nothing: list the runs, where each stands, and the hours left at the recorded runs' pace",
    )

    data = commands.add_parser("data", help="prepare or download the datasets", description="Get the datasets.")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    prepare = data_commands.add_parser(
        "prepare",
        help="build a dataset from a local copy (no internet needed)",
        description="Build a dataset in the data root from a local copy. fashion-mnist: a folder with the four "
        "IDX .gz files (e.g. /usr/share/datasets/fashion-mnist). cifar10: cifar-10-python.tar.gz, or an "
        "ImageFolder tree or tarball of JPEGs such as cifar10-jpeg.tar.gz.",
    )
    prepare.add_argument("dataset", choices=list(datasets.DATASETS))
    prepare.add_argument("--from", dest="source", required=True, metavar="PATH", help="the local copy")
    prepare.add_argument("--root", help="data folder; default: $QPCONV_DATA, else data/")
    download = data_commands.add_parser(
        "download", help="download a dataset with torchvision", description="Download a dataset with torchvision."
    )
    download.add_argument("dataset", choices=list(datasets.DATASETS))
    download.add_argument("--root", help="data folder; default: $QPCONV_DATA, else data/")
    get = data_commands.add_parser(
        "get",
        help="make datasets available by whatever way works (used by `make data`)",
        description="For each DATASET: keep the copy in the data root; else prepare it from a local copy "
        "identical to the original (Debian's Fashion-MNIST); else download it; else prepare it from a local "
        "substitute (the JPEG copy of CIFAR-10 in ../shared/datasets).",
    )
    get.add_argument("datasets", nargs="+", choices=list(datasets.DATASETS), metavar="DATASET")
    get.add_argument("--root", help="data folder; default: $QPCONV_DATA, else data/")

    listing = commands.add_parser(
        "list",
        help="list experiments, presets and recorded runs",
        description="List experiments, presets and recorded runs (complete, running, diverged, damaged).",
    )
    listing.add_argument("--results-dir", default=str(experiments.DEFAULT_RESULTS_DIR), help="default: %(default)s")

    commands.add_parser("bench", add_help=False, help="speed benchmark; arguments go to qpconv.bench (see qpconv bench --help)")
    return parser


class _UsageError(Exception):
    """A bad value on the command line: exit 2 with its message."""


def _error(command: str, message: str, code: int) -> int:
    print(f"qpconv {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _readable_folder(path: str, option: str) -> Path:
    """``path`` as a folder to read from (one that does not exist reads as empty), or a usage error."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise _UsageError(f"{option} {folder} is a file, not a folder")
    return folder


def _writable_folder(path: str, option: str) -> Path:
    """``path`` as a folder that exists (created if needed) and can be written, or a usage error."""
    folder = _readable_folder(path, option)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise _UsageError(f"{option} {folder} cannot be written ({error.strerror or error})") from None
    return folder


def _data_root(root: str | None, wing: Any) -> Path:
    path = wing.datasets.resolve_data_root(root)
    if path.exists() and not path.is_dir():
        raise _UsageError(f"the data root {path} is a file, not a folder")
    above = next((folder for folder in path.parents if folder.exists()), None)
    if above is not None and not above.is_dir():
        raise _UsageError(f"the data root {path} lies below {above}, which is a file")
    return path


def _check_seeds(seeds: list[int] | None, wing: Any) -> tuple[int, ...] | None:
    if seeds is None:
        return None
    try:
        checked = wing.experiments.validate_seeds(seeds)
    except ValueError as error:
        raise _UsageError(str(error)) from None
    too_large = [seed for seed in checked if seed >= SEED_LIMIT]
    if too_large:
        raise _UsageError(f"seed {too_large[0]} is too large: seeds must be below 2**32 = {SEED_LIMIT}")
    return checked


def _check_device(device: str | None, wing: Any, on_this_machine: bool = True) -> None:
    """A device name the runner supports and, when it trains ``on_this_machine``, that is there."""
    if device is None:
        return
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise _UsageError(f"device {device!r} is not a device name; use cpu, cuda or cuda:N") from None
    if parsed.type not in ("cpu", "cuda"):
        raise _UsageError(f"device {device!r} is not supported by the runner; use cpu, cuda or cuda:N")
    if not on_this_machine:
        return
    try:
        wing.training.resolve_device(parsed)
    except ValueError as error:
        raise _UsageError(str(error)) from None
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise _UsageError(f"device {device!r} is not there: this machine has {torch.cuda.device_count()} CUDA device(s)")


def _preset(args: argparse.Namespace, wing: Any) -> Any:
    """The chosen preset with the command line's changes (``--epochs``, ``--train-size``, ``--test-size``, ``--lr``)."""
    experiments = wing.experiments
    return experiments.custom_preset(
        experiments.get_preset(args.preset), epochs=args.epochs, train_size=args.train_size, test_size=args.test_size, lr=args.lr
    )


def _dry_run(args: argparse.Namespace, wing: Any) -> int:
    """What ``qpconv run`` would train, from the results folder alone (no data, executor or device needed)."""
    try:
        results_dir = _readable_folder(args.results_dir, "--results-dir")
        plan = wing.planning.plan_sweep(
            args.experiment, _preset(args, wing), _check_seeds(args.seeds, wing), args.models, results_dir
        )
    except (_UsageError, ValueError) as error:
        return _error("run", str(error), 2)
    print("\n".join(wing.planning.describe_plan(plan)))
    return 0


def _run(args: argparse.Namespace, wing: Any) -> int:
    if args.dry_run:
        return _dry_run(args, wing)
    experiments, executors = wing.experiments, wing.executors
    kind = executors.ExecutorKind(args.executor)
    try:
        executor = executors.make_executor(kind, args.address)
    except ImportError as error:
        return _error("run", str(error), 1)
    except ValueError as error:
        return _error("run", str(error), 2)
    try:
        seeds = _check_seeds(args.seeds, wing)
        _check_device(args.device, wing, on_this_machine=kind is executors.ExecutorKind.LOCAL)
        preset = _preset(args, wing)
        experiments.plan_runs(args.experiment, preset, seeds, args.models)  # unknown models fail here
        data_root = _data_root(args.data_root, wing)
        results_dir = _writable_folder(args.results_dir, "--results-dir")
        default = None if kind is executors.ExecutorKind.RAY else str(executors.DEFAULT_CHECKPOINT_DIR)  # Ray: on each worker
        given = args.checkpoint_dir or default
        checkpoint_dir = None if given is None else _writable_folder(given, "--checkpoint-dir")
        executor.resolve_device(args.device)  # on Ray: the cluster has what is asked for
    except (_UsageError, ValueError) as error:
        return _error("run", str(error), 2)
    try:
        reports = experiments.run_experiment(
            args.experiment,
            preset,
            seeds,
            models=args.models,
            device=args.device,
            data_root=data_root,
            results_dir=results_dir,
            checkpoint_dir=checkpoint_dir,
            restart=args.restart,
            executor=executor,
        )
    except wing.loading.DatasetNotFoundError as error:
        return _error("run", str(error), 1)
    problems = [r for r in reports if r.kind in (experiments.ReportKind.DIVERGED, experiments.ReportKind.FAILED)]
    counts = {kind.value: sum(r.kind is kind for r in reports) for kind in experiments.ReportKind}
    print("summary: " + ", ".join(f"{count} {kind}" for kind, count in counts.items() if count))
    for report in problems:
        print(f"qpconv run: {report.kind.value}: {report.message}", file=sys.stderr)
    return 1 if problems else 0


def _data(args: argparse.Namespace, wing: Any) -> int:
    acquire, not_found = wing.acquire, wing.loading.DatasetNotFoundError
    try:
        root = _data_root(args.root, wing)
    except _UsageError as error:
        return _error("data", str(error), 2)
    if args.data_command == "get":
        for name in args.datasets:
            try:
                how = acquire.ensure_dataset(name, root)
            except not_found as error:
                return _error("data", str(error), 1)
            print(f"{name}: {how} (data root {root})")
        return 0
    try:
        if args.data_command == "prepare":
            copy = acquire.prepare_dataset(args.dataset, args.source, root)
        else:
            acquire.download_dataset(args.dataset, root)
            copy = wing.datasets.get_dataset_spec(args.dataset).original_copy
    except not_found as error:
        return _error("data", str(error), 1)
    except (ValueError, FileNotFoundError) as error:
        return _error("data", str(error), 2)
    print(f"{args.dataset} is ready in {root} (copy: {copy})")
    return 0


def _list(args: argparse.Namespace, wing: Any) -> int:
    experiments = wing.experiments
    try:
        _readable_folder(args.results_dir, "--results-dir")
    except _UsageError as error:
        return _error("list", str(error), 2)
    print("experiments:")
    for experiment in experiments.EXPERIMENTS.values():
        models = ", ".join(variant.name for variant in experiment.variants)
        print(f"  {experiment.name:<8} {experiment.description}  [{models}]")
    print("presets:")
    for preset in experiments.PRESETS.values():
        print(f"  {preset.name:<8} {preset.description}")
    print(f"recorded runs in {args.results_dir}:")
    found, damaged = False, {}

    def note(error: Any) -> None:  # a run shared by two experiments is reported once
        damaged[str(error.path)] = error

    presets = sorted({p.name for p in Path(args.results_dir).glob("*/*") if p.is_dir()} | set(experiments.PRESETS))
    for name in experiments.EXPERIMENTS:
        for preset_name in presets:
            for run in experiments.load_runs(name, preset_name, args.results_dir, on_damaged=note):
                config, found = run.config, True
                last = f"test_acc {run.metrics[-1]['test_acc']:.4f}" if run.metrics else "no epoch yet"
                shared = "" if config.experiment == name else f"  (stored under {config.experiment})"
                why = f"  ({run.outcome.divergence})" if run.outcome.divergence else ""
                print(
                    f"  {name:<8} {preset_name:<6} {config.model:<12} seed{config.seed:<3} {run.outcome.status.value:<8} "
                    f"{len(run.metrics)}/{config.recipe.epochs} epochs  {last}{shared}{why}"
                )
    if not found and not damaged:
        print("  none")
    for damage in damaged.values():
        print(f"  damaged  {damage}", file=sys.stderr)
    return 1 if damaged else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qpconv`` command (and of ``python -m qpconv``).

    Args:
        argv: the arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        The exit code: 0 success, 1 the work failed, 2 bad command line.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # forwarded untouched: argparse cannot pass options through a subparser
        from .bench import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["--version"]:
        print(f"qpconv {__version__}")
        return 0
    try:
        wing = _replication()
    except ImportError as error:
        return _error(argv[0] if argv else "", str(error), 1)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else 2
    if args.command == "run":
        return _run(args, wing)
    if args.command == "data":
        return _data(args, wing)
    return _list(args, wing)
