"""What the book's chapters share: one setup call, the recorded runs, and the quick fresh run.

Book: every chapter (its first code cell calls :func:`setup_chapter`).

In the spirit of the package functions of *Dive into Deep Learning*: a chapter's
notebook teaches, and everything it would otherwise repeat (checking the ``PRESET``
parameter, finding the repository's ``results/`` and ``data/``, the figure style,
silencing tqdm's notice about missing widgets, seeding) happens here::

    chapter = setup_chapter(PRESET, seed=0)
    runs = chapter.recorded_runs("fig4_5")   # the committed full runs (retrained first when PRESET = "full")
    runs_overview(runs)                      # one row per run
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn

from .colab import REPOSITORY_ENV
from .datasets import DATA_ROOT_ENV
from .experiments import load_runs, run_experiment, trained_models
from .results import RunRecord

__all__ = [
    "PRESET_NAMES",
    "Chapter",
    "final_accuracies",
    "glue_paper_accuracies",
    "glue_values",
    "runs_overview",
    "setup_chapter",
]

PRESET_NAMES = ("quick", "full")
"""The values a chapter's ``PRESET`` parameter may take."""

FIGURE_STYLE: dict[str, Any] = {"figure.dpi": 110, "axes.spines.top": False, "axes.spines.right": False}
"""Matplotlib settings of every figure drawn in a chapter."""


@dataclass(frozen=True)
class Chapter:
    """A chapter's settings, from :func:`setup_chapter`.

    Attributes:
        preset: ``"quick"`` or ``"full"``, the chapter's ``PRESET``.
        root: the repository the notebook reads and writes (holds ``results/``, ``data/``,
            ``checkpoints/``): ``$QPCONV_REPOSITORY`` when set, else the one around the
            working directory, else the working directory.
    """

    preset: str
    root: Path

    @property
    def results(self) -> Path:
        """The recorded runs, ``<root>/results``."""
        return self.root / "results"

    @property
    def checkpoints(self) -> Path:
        """Checkpoints of runs trained from the chapter, ``<root>/checkpoints``."""
        return self.root / "checkpoints"

    def recorded_runs(self, experiment: str) -> list[RunRecord]:
        """The full-preset runs of ``experiment`` recorded under :attr:`results`.

        With ``preset == "full"`` every run is trained first (complete runs are
        skipped, interrupted ones resume), which takes hours on a CPU.
        """
        if self.preset == "full":
            run_experiment(experiment, "full", results_dir=self.results, checkpoint_dir=self.checkpoints)
        return load_runs(experiment, "full", self.results)

    def fresh_quick_run(self, experiment: str) -> list[RunRecord]:
        """Train ``experiment`` with the quick preset (seed 0) in a temporary folder, and read it back.

        The whole path (data, models, training, results) on every build, in minutes on a
        CPU. Returns no runs when ``preset == "full"``.
        """
        if self.preset != "quick":
            return []
        with tempfile.TemporaryDirectory(prefix="qpconv-quick-") as workspace:
            results = Path(workspace) / "results"
            run_experiment(
                experiment,
                "quick",
                seeds=[0],
                results_dir=results,
                checkpoint_dir=Path(workspace) / "checkpoints",
                progress=False,
            )
            return load_runs(experiment, "quick", results)

    def trained_models(self, experiment: str, model: str) -> list[tuple[RunRecord, nn.Module]]:
        """:func:`~qpconv.replication.experiments.trained_models` of the repository's recorded runs."""
        return trained_models(experiment, model, self.results)


def _repository_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds the book (``_toc.yml``); ``start`` when there is none."""
    for folder in (start, *start.parents):
        if (folder / "_toc.yml").is_file():
            return folder
    return start


def _chapter_root() -> Path:
    """``$QPCONV_REPOSITORY`` (set by :func:`~qpconv.replication.colab.open_repository`), else the repository around the cwd.

    Raises:
        ValueError: ``$QPCONV_REPOSITORY`` names a folder without the book (``_toc.yml``).
    """
    named = os.environ.get(REPOSITORY_ENV)
    if not named:
        return _repository_root(Path.cwd())
    root = Path(named).expanduser().absolute()
    if not (root / "_toc.yml").is_file():
        raise ValueError(f"${REPOSITORY_ENV} is {named!r}, which holds no qpconv repository (no _toc.yml)")
    return root


def setup_chapter(preset: str, *, seed: int | None = None, default_dtype: torch.dtype | None = None) -> Chapter:
    """Everything a chapter needs before its first line of content.

    * checks ``preset``;
    * finds the repository (``$QPCONV_REPOSITORY``, which the first cell sets in Colab,
      else the one around the working directory) and, when ``$QPCONV_DATA`` is not set,
      points it at the repository's ``data/`` (where ``make data`` puts the datasets);
    * sets the figure style (``FIGURE_STYLE``), lets tables show whole sentences,
      and hides tqdm's notice that ipywidgets are missing (the bars then print as text);
    * seeds torch's generator with ``seed`` and sets torch's default dtype, when given.

    Args:
        preset: the chapter's ``PRESET`` parameter, one of :data:`PRESET_NAMES`.
        seed: seed of torch's global generator, for chapters that draw random numbers.
        default_dtype: e.g. ``torch.float64`` for chapters that compare to machine precision.

    Returns:
        The :class:`Chapter`.

    Raises:
        ValueError: ``preset`` is not one of :data:`PRESET_NAMES`, or ``$QPCONV_REPOSITORY``
            names a folder without the book.
    """
    if preset not in PRESET_NAMES:
        raise ValueError(f"PRESET must be one of {list(PRESET_NAMES)}, got {preset!r}")
    root = _chapter_root()
    if not os.environ.get(DATA_ROOT_ENV) and (root / "data").is_dir():
        os.environ[DATA_ROOT_ENV] = str((root / "data").resolve())
    plt.style.use(FIGURE_STYLE)
    warnings.filterwarnings("ignore", message="IProgress not found")
    pd.set_option("display.max_colwidth", None)  # tables of claims and provenance hold whole sentences
    if seed is not None:
        torch.manual_seed(seed)
    if default_dtype is not None:
        torch.set_default_dtype(default_dtype)
    return Chapter(preset, root)


def runs_overview(runs: list[RunRecord]) -> pd.DataFrame:
    """One row per run: model, seed, epochs trained, status, wall hours, data copy, and the hardware it trained on.

    The hardware matters for the hours: the runs of one experiment may span sessions on different CPUs.
    """
    return pd.DataFrame(
        [
            {
                "model": run.config.model,
                "seed": run.config.seed,
                "epochs": f"{len(run.metrics)}/{run.config.recipe.epochs}",
                "status": run.outcome.status.value,
                "hours": round(run.outcome.wall_seconds / 3600, 2),
                "data copy": run.config.dataset_copy,
                "device": run.outcome.device,
            }
            for run in runs
        ],
        columns=["model", "seed", "epochs", "status", "hours", "data copy", "device"],
    )


def final_accuracies(runs: list[RunRecord]) -> pd.DataFrame:
    """Final accuracies (percent) and wall seconds of every run, one row per (model, seed)."""
    return pd.DataFrame(
        [
            {
                "model": run.config.model,
                "seed": run.config.seed,
                "epochs": len(run.metrics),
                "final train": round(100 * run.metrics[-1]["train_acc"], 1),
                "final test": round(100 * run.metrics[-1]["test_acc"], 1),
                "seconds": round(run.outcome.wall_seconds, 1),
            }
            for run in runs
            if run.metrics
        ]
    ).set_index(["model", "seed"])


def glue_values(values: Mapping[str, object]) -> None:
    """Make each value available to the chapter's text as ``{glue:text}`name```, without displaying it.

    Every number the prose states comes from the executed notebook this way, never typed
    (a test checks the replication chapters' text for typed accuracies).
    """
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value if isinstance(value, str) else f"{value}", display=False)


def glue_paper_accuracies() -> None:
    """Glue every accuracy the paper quotes (:data:`~qpconv.replication.claims.PAPER_ACCURACIES`).

    Names: ``paper_<experiment>_<model>`` as the paper writes it (``"~ 90 %"``) and
    ``paper_<experiment>_<model>_value`` (``"90 %"``), with ``-`` in names written ``_``.
    """
    from .claims import PAPER_ACCURACIES

    values = {}
    for quoted in PAPER_ACCURACIES:
        name = f"paper_{quoted.experiment}_{quoted.model}".replace("-", "_")
        values[name] = quoted.text
        values[f"{name}_value"] = f"{quoted.value:g} %"
    glue_values(values)
