"""Where the runs of a sweep train: one after another in this process, or as tasks on a Ray cluster.

Book: How to run (section "On a Ray cluster").

:func:`~qpconv.replication.experiments.run_experiment` decides which runs need training
and hands them, with the per-run code (a :data:`Trainer`), to an executor:

:class:`LocalExecutor`
    Today's loop: the runs train one after another in this process and write their
    results straight into the results folder.
:class:`RayExecutor`
    Every run is a Ray task of one CPU (one torch thread), or of one GPU with
    ``device="cuda"``, on a local Ray instance or the cluster at ``address``. The dataset
    is loaded once by the driver and put in Ray's object store, so workers need no data
    on disk. Results are written by the driver, atomically and in the same layout as the
    local executor's, so workers need no shared file system: a task sends its log lines,
    its ``metrics.csv``/``config.json`` after every epoch and its trained model through a
    ``ray.util.queue.Queue`` whose actor lives on the driver's node, and the driver
    writes what arrives. Checkpoints go to the ``checkpoint_dir`` given, which must then be
    a path that every node shares (NFS, a mounted bucket), or else to a folder local to
    each worker's node (:func:`worker_checkpoint_dir`). A task whose worker dies is
    retried (``max_retries``) and resumes from its checkpoint when it can see it: always
    with a shared folder, on the same node otherwise. A run that fails, or whose retries
    are spent, is reported as failed without stopping the others.

Both yield a :class:`RunReport` per run as it finishes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from tqdm.auto import tqdm

from .._optional import import_optional, require_installed
from .results import RunConfig, RunOutcome, write_model, write_run
from .training import progress_enabled, resolve_device

if TYPE_CHECKING:
    from .experiments import RunSpec
    from .loading import LoadedDataset

__all__ = [
    "DEFAULT_CHECKPOINT_DIR",
    "MAX_RETRIES",
    "Executor",
    "ExecutorKind",
    "LocalExecutor",
    "RayExecutor",
    "ReportKind",
    "RunFolder",
    "RunReport",
    "RunSink",
    "Trainer",
    "make_executor",
    "worker_checkpoint_dir",
]

DEFAULT_CHECKPOINT_DIR = Path("checkpoints")
"""Checkpoints of the local executor when no folder is given (relative to the working directory)."""
MAX_RETRIES = 3
"""How often Ray starts a run's task again after its worker died."""


class ExecutorKind(str, Enum):
    """The executors of ``qpconv run --executor``."""

    LOCAL = "local"
    """One run after another in this process."""
    RAY = "ray"
    """Ray tasks on a local instance or a cluster."""


class ReportKind(str, Enum):
    """What :func:`~qpconv.replication.experiments.run_experiment` did with a run."""

    SKIPPED = "skipped"
    """Complete already."""
    TRAINED = "trained"
    """Trained (or resumed) to completion."""
    DIVERGED = "diverged"
    """Diverged now, or earlier and recorded as such."""
    FAILED = "failed"
    """Not trained, because of a damaged or foreign checkpoint, another process training it, or a failed task."""


@dataclass(frozen=True)
class RunReport:
    """One run's fate in :func:`~qpconv.replication.experiments.run_experiment`.

    Attributes:
        run: the run.
        folder: its results folder.
        kind: see :class:`ReportKind`.
        message: one line for the log.
    """

    run: RunSpec
    folder: Path
    kind: ReportKind
    message: str


class RunSink(Protocol):
    """Where one training run sends its log lines and results (its results ``folder`` names it in reports)."""

    @property
    def folder(self) -> Path: ...

    def log(self, line: str) -> None: ...

    def write_run(self, config: RunConfig, outcome: RunOutcome, metrics: list[dict[str, float]]) -> None: ...

    def write_model(self, state: Mapping[str, torch.Tensor]) -> None: ...


Trainer = Callable[["RunSpec", "LoadedDataset", RunSink, Path, torch.device, bool], RunReport]
"""The per-run code, called as ``trainer(run, data, sink, checkpoint_dir, device, progress)``; it trains one run and reports it.

It must be picklable for :class:`RayExecutor` (e.g. a frozen dataclass of a module).
"""


@dataclass(frozen=True)
class RunFolder:
    """A :class:`RunSink` that writes a run's files into its results folder (:mod:`~qpconv.replication.results`)."""

    folder: Path
    logger: Callable[[str], None] = print

    def log(self, line: str) -> None:
        """Pass ``line`` to the logger."""
        self.logger(line)

    def write_run(self, config: RunConfig, outcome: RunOutcome, metrics: list[dict[str, float]]) -> None:
        """``metrics.csv`` then ``config.json``, each atomically."""
        write_run(self.folder, config, outcome, metrics)

    def write_model(self, state: Mapping[str, torch.Tensor]) -> None:
        """``model.pt``, atomically."""
        write_model(self.folder, state)


class Executor(Protocol):
    """Trains the runs that :func:`~qpconv.replication.experiments.run_experiment` hands it."""

    def resolve_device(self, device: str | torch.device | None) -> torch.device:
        """The device the runs will train on (checked before any work starts).

        Raises:
            ValueError: the device is not available.
        """
        ...

    def train(
        self,
        trainer: Trainer,
        runs: Sequence[RunSpec],
        data: LoadedDataset,
        results_dir: Path,
        checkpoint_dir: Path | None,
        device: torch.device,
        progress: bool | None,
        log: Callable[[str], None],
    ) -> Iterator[RunReport]:
        """Train ``runs`` with ``trainer``; a report per run as it finishes (in any order).

        ``checkpoint_dir`` ``None`` means the executor's default; ``progress`` ``None``
        means :func:`~qpconv.replication.training.progress_enabled`.
        """
        ...


class LocalExecutor:
    """Train the runs one after another in this process; checkpoints default to :data:`DEFAULT_CHECKPOINT_DIR`."""

    def resolve_device(self, device: str | torch.device | None) -> torch.device:
        """:func:`~qpconv.replication.training.resolve_device` on this machine."""
        return resolve_device(device)

    def train(
        self,
        trainer: Trainer,
        runs: Sequence[RunSpec],
        data: LoadedDataset,
        results_dir: Path,
        checkpoint_dir: Path | None,
        device: torch.device,
        progress: bool | None,
        log: Callable[[str], None],
    ) -> Iterator[RunReport]:
        """Each run in plan order, writing into ``results_dir``; see :meth:`Executor.train`."""
        progress = progress_enabled() if progress is None else progress
        for run in runs:
            folder, checkpoints = RunFolder(run.results_dir(results_dir), log), checkpoint_dir or DEFAULT_CHECKPOINT_DIR
            yield trainer(run, data, folder, checkpoints, device, progress)


def worker_checkpoint_dir() -> Path:
    """Checkpoints of a Ray worker when no shared folder is given: ``<temp dir>/qpconv-checkpoints`` of its node.

    The folder outlives the Ray session, so a run retried on the same node, or a sweep
    started again on the same nodes, resumes from it.
    """
    return Path(tempfile.gettempdir()) / "qpconv-checkpoints"


@dataclass(frozen=True)
class _Line:
    """A log line of a task."""

    text: str


@dataclass(frozen=True)
class _Files:
    """A run's ``metrics.csv`` and ``config.json``, to be written by the driver."""

    index: int
    config: RunConfig
    outcome: RunOutcome
    metrics: list[dict[str, float]]


@dataclass(frozen=True)
class _Model:
    """A run's trained ``state_dict`` (on the CPU), to be written by the driver as ``model.pt``."""

    index: int
    state: dict[str, torch.Tensor]


@dataclass(frozen=True)
class _QueueSink:
    """The :class:`RunSink` of a Ray task: everything goes into the driver's queue (``put`` waits until it is in)."""

    queue: Any
    index: int
    folder: Path

    def log(self, line: str) -> None:
        self.queue.put(_Line(line))

    def write_run(self, config: RunConfig, outcome: RunOutcome, metrics: list[dict[str, float]]) -> None:
        self.queue.put(_Files(self.index, config, outcome, metrics))

    def write_model(self, state: Mapping[str, torch.Tensor]) -> None:
        self.queue.put(_Model(self.index, {key: value.detach().cpu() for key, value in state.items()}))


def _train_task(
    trainer: Trainer, run: RunSpec, data: LoadedDataset, sink: _QueueSink, checkpoint_dir: Path | None, device: torch.device
) -> RunReport:
    """The body of a Ray task: one torch thread, checkpoints in the shared folder or the worker's own, no bars."""
    torch.set_num_threads(1)
    return trainer(run, data, sink, checkpoint_dir or worker_checkpoint_dir(), device, False)


def _one_line(error: BaseException) -> str:
    """The reason of a failed task in one line: the original exception of a task error, else Ray's own words."""
    cause = getattr(error, "cause", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


class RayExecutor:
    """Train every run as a Ray task; the driver writes the results (module docstring).

    Args:
        address: of a running Ray cluster (``"auto"``, ``"head-node:6379"``); ``None`` starts a
            local instance on this machine. An instance already started in this process
            (``ray.init``) is used as it is.
        num_cpus: CPUs of the local instance (runs trained at once); default Ray's count of
            this machine's cores. Only without ``address``.
        max_retries: how often a task is started again after its worker died.

    Raises:
        ImportError: Ray is not installed; the message names the extra (``qpconv[ray]``).
        ValueError: ``num_cpus`` with an ``address``, or a count that is not a positive (``max_retries``:
            non-negative) integer.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, max_retries: int = MAX_RETRIES) -> None:
        require_installed(["ray"], extra="ray", feature="--executor ray")
        if address is not None and num_cpus is not None:
            raise ValueError("num_cpus sizes a local Ray instance; a cluster at an address has its own")
        for name, value, least in (("num_cpus", num_cpus, 1), ("max_retries", max_retries, 0)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries

    def _ray(self) -> Any:
        """The ``ray`` module, connected to the cluster."""
        ray = import_optional("ray", extra="ray", feature="--executor ray")
        if not ray.is_initialized():
            if self.address is None:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False)
            else:
                ray.init(address=self.address)
        return ray

    def resolve_device(self, device: str | torch.device | None) -> torch.device:
        """``cuda`` (one GPU per task) or ``cpu``; default ``cuda`` when the cluster has GPUs.

        A device index (``cuda:1``) is dropped: Ray chooses each task's GPU.

        Raises:
            ValueError: CUDA asked for but the cluster has no GPU, or a device that is neither CPU nor CUDA.
        """
        gpus = self._ray().cluster_resources().get("GPU", 0)
        if device is None:
            return torch.device("cuda" if gpus else "cpu")
        kind = torch.device(device).type
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device {str(device)!r} is not supported on Ray; use cpu or cuda")
        if kind == "cuda" and not gpus:
            raise ValueError(f"device {str(device)!r} requested but the Ray cluster has no GPU; use 'cpu'")
        return torch.device(kind)

    def train(
        self,
        trainer: Trainer,
        runs: Sequence[RunSpec],
        data: LoadedDataset,
        results_dir: Path,
        checkpoint_dir: Path | None,
        device: torch.device,
        progress: bool | None,
        log: Callable[[str], None],
    ) -> Iterator[RunReport]:
        """Submit every run, write the results as they arrive, yield each run's report when its task ends.

        A relative ``checkpoint_dir`` is made absolute here, so that every node reads the
        same path. See :meth:`Executor.train`.
        """
        ray = self._ray()
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        queue = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})
        gpus = 1 if device.type == "cuda" else 0
        task = ray.remote(_train_task).options(num_cpus=1, num_gpus=gpus, max_retries=self.max_retries)
        shared = None if checkpoint_dir is None else checkpoint_dir.absolute()
        data_ref = ray.put(data)
        folders = [run.results_dir(results_dir) for run in runs]
        pending = {
            task.remote(trainer, run, data_ref, _QueueSink(queue, index, folder), shared, device): index
            for index, (run, folder) in enumerate(zip(runs, folders))
        }
        bar = tqdm(total=len(runs), desc="runs", unit="run", disable=not (progress_enabled() if progress is None else progress))

        def say(line: str) -> None:
            with tqdm.external_write_mode():
                log(line)

        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                size = queue.qsize()
                for update in queue.get_nowait_batch(size) if size else []:
                    self._write(update, folders, say)
                for ref in ready:
                    index = pending.pop(ref)
                    try:
                        report = ray.get(ref)
                    except ray.exceptions.RayError as error:
                        message = f"{runs[index]}: its task failed ({_one_line(error)})"
                        report = RunReport(runs[index], folders[index], ReportKind.FAILED, message)
                    bar.update()
                    with tqdm.external_write_mode():  # the caller logs the report while the bar is hidden
                        yield report
        finally:
            bar.close()
            for ref in pending:
                ray.cancel(ref, force=True)
            queue.shutdown(force=True)

    @staticmethod
    def _write(update: _Line | _Files | _Model, folders: list[Path], say: Callable[[str], None]) -> None:
        """Log a task's line, or write its files into the run's folder (atomically)."""
        if isinstance(update, _Line):
            say(update.text)
        elif isinstance(update, _Files):
            write_run(folders[update.index], update.config, update.outcome, update.metrics)
        else:
            write_model(folders[update.index], update.state)


def make_executor(kind: ExecutorKind, address: str | None = None) -> Executor:
    """The executor of ``kind``; ``address`` is the Ray cluster's (Ray only).

    Raises:
        ValueError: an ``address`` for the local executor.
        ImportError: Ray is asked for but not installed; the message names the extra (``qpconv[ray]``).
    """
    if kind is ExecutorKind.LOCAL:
        if address is not None:
            raise ValueError("--address is the address of a Ray cluster; it needs --executor ray")
        return LocalExecutor()
    return RayExecutor(address)
