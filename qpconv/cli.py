"""The ``qpconv`` command line: run the experiments, get the data, list runs, benchmark.

Book: Replicating Figs. 4-5 (section "Running the experiments").

Usage::

    qpconv run EXPERIMENT [--preset quick|full] [--seeds 0 1 2] [--device cpu|cuda]
                          [--data-root DIR] [--results-dir DIR] [--checkpoint-dir DIR]
    qpconv data prepare fashion-mnist|cifar10 --from PATH [--root DIR]
    qpconv data download fashion-mnist|cifar10 [--root DIR]
    qpconv data get fashion-mnist|cifar10 ... [--root DIR]   (whatever works: present, local copy, download)
    qpconv list [--results-dir DIR]
    qpconv bench [ARGS...]            (forwarded to qpconv.bench.main)

Exit codes: 0 success, 1 the work failed (missing data, conflicting checkpoint), 2 bad
command line (unknown experiment or preset, bad seeds, bad source path).
"""

from __future__ import annotations

import argparse
import sys

from .replication.acquire import download_dataset, ensure_dataset, prepare_dataset
from .replication.datasets import DATASETS, resolve_data_root
from .replication.experiments import (
    DEFAULT_CHECKPOINT_DIR,
    DEFAULT_RESULTS_DIR,
    EXPERIMENTS,
    PRESETS,
    load_runs,
    run_experiment,
    validate_seeds,
)
from .replication.loading import DatasetNotFoundError
from .replication.training import CheckpointMismatchError, resolve_device

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``qpconv`` (one subparser per command, each with ``--help``).

    Book: Replicating Figs. 4-5.
    """
    parser = argparse.ArgumentParser(prog="qpconv", description="Quantum pointwise convolution: experiments and data.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="train an experiment's models (resumes interrupted runs, skips complete ones)",
        description="Train every model of EXPERIMENT for every seed. Complete runs are skipped, "
        "interrupted ones resume from their last finished epoch.",
    )
    run.add_argument(
        "experiment", choices=list(EXPERIMENTS), metavar="EXPERIMENT", help="; ".join(e.description for e in EXPERIMENTS.values())
    )
    run.add_argument("--preset", choices=list(PRESETS), default="quick", help="default: quick")
    run.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="distinct non-negative integers; default: the preset's")
    run.add_argument("--device", help="cpu, cuda, cuda:1, ...; default: cuda when available, else cpu")
    run.add_argument("--data-root", help="data folder; default: $QPCONV_DATA, else data/")
    run.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="default: %(default)s")
    run.add_argument("--checkpoint-dir", default=str(DEFAULT_CHECKPOINT_DIR), help="default: %(default)s")

    data = commands.add_parser("data", help="prepare or download the datasets", description="Get the datasets.")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    prepare = data_commands.add_parser(
        "prepare",
        help="build a dataset from a local copy (no internet needed)",
        description="Build a dataset in the data root from a local copy. fashion-mnist: a folder with the four "
        "IDX .gz files (e.g. /usr/share/datasets/fashion-mnist). cifar10: cifar-10-python.tar.gz, or an "
        "ImageFolder tree or tarball of JPEGs such as cifar10-jpeg.tar.gz.",
    )
    prepare.add_argument("dataset", choices=list(DATASETS))
    prepare.add_argument("--from", dest="source", required=True, metavar="PATH", help="the local copy")
    prepare.add_argument("--root", help="data folder; default: $QPCONV_DATA, else data/")
    download = data_commands.add_parser(
        "download", help="download a dataset with torchvision", description="Download a dataset with torchvision."
    )
    download.add_argument("dataset", choices=list(DATASETS))
    download.add_argument("--root", help="data folder; default: $QPCONV_DATA, else data/")
    get = data_commands.add_parser(
        "get",
        help="make datasets available by whatever way works (used by `make data`)",
        description="For each DATASET: keep the copy in the data root; else prepare it from a local copy "
        "identical to the original (Debian's Fashion-MNIST); else download it; else prepare it from a local "
        "substitute (the JPEG copy of CIFAR-10 in ../shared/datasets).",
    )
    get.add_argument("datasets", nargs="+", choices=list(DATASETS), metavar="DATASET")
    get.add_argument("--root", help="data folder; default: $QPCONV_DATA, else data/")

    listing = commands.add_parser(
        "list", help="list experiments, presets and recorded runs", description="List experiments, presets and recorded runs."
    )
    listing.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="default: %(default)s")

    commands.add_parser("bench", add_help=False, help="speed benchmark; arguments go to qpconv.bench (see qpconv bench --help)")
    return parser


def _error(command: str, message: str, code: int) -> int:
    print(f"qpconv {command}: error: {message}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        seeds = None if args.seeds is None else validate_seeds(args.seeds)
        resolve_device(args.device)
    except (ValueError, RuntimeError) as error:
        return _error("run", str(error), 2)
    try:
        run_experiment(
            args.experiment,
            args.preset,
            seeds,
            device=args.device,
            data_root=args.data_root,
            results_dir=args.results_dir,
            checkpoint_dir=args.checkpoint_dir,
        )
    except (DatasetNotFoundError, CheckpointMismatchError) as error:
        return _error("run", str(error), 1)
    return 0


def _data(args: argparse.Namespace) -> int:
    root = resolve_data_root(args.root)
    if args.data_command == "get":
        for name in args.datasets:
            try:
                how = ensure_dataset(name, root)
            except DatasetNotFoundError as error:
                return _error("data", str(error), 1)
            print(f"{name}: {how} (data root {root})")
        return 0
    try:
        if args.data_command == "prepare":
            copy = prepare_dataset(args.dataset, args.source, root)
        else:
            download_dataset(args.dataset, root)
            copy = f"{args.dataset}-original"
    except DatasetNotFoundError as error:
        return _error("data", str(error), 1)
    except (ValueError, FileNotFoundError) as error:
        return _error("data", str(error), 2)
    print(f"{args.dataset} is ready in {root} (copy: {copy})")
    return 0


def _list(args: argparse.Namespace) -> int:
    print("experiments:")
    for experiment in EXPERIMENTS.values():
        models = ", ".join(variant.name for variant in experiment.variants)
        print(f"  {experiment.name:<8} {experiment.description}  [{models}]")
    print("presets:")
    for preset in PRESETS.values():
        print(f"  {preset.name:<8} {preset.description}")
    print(f"recorded runs in {args.results_dir}:")
    found = False
    for name in EXPERIMENTS:
        for preset_name in PRESETS:
            for run in load_runs(name, preset_name, args.results_dir):
                config, found = run.config, True
                last = f"test_acc {run.metrics[-1]['test_acc']:.4f}" if run.metrics else "no epoch yet"
                shared = "" if config.experiment == name else f"  (stored under {config.experiment})"
                print(
                    f"  {name:<8} {preset_name:<6} {config.model:<12} seed{config.seed:<3} {run.outcome.status.value:<8} "
                    f"{len(run.metrics)}/{config.recipe.epochs} epochs  {last}{shared}"
                )
    if not found:
        print("  none")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qpconv`` command (and of ``python -m qpconv``).

    Book: Replicating Figs. 4-5.

    Args:
        argv: the arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        The exit code: 0 success, 1 the work failed, 2 bad command line.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # forwarded untouched: argparse cannot pass options through a subparser
        from .bench import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else 2
    if args.command == "run":
        return _run(args)
    if args.command == "data":
        return _data(args)
    return _list(args)
