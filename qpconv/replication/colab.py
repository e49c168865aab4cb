"""The book's repository for a notebook that arrives alone (Google Colab): recorded runs and a data folder.

Book: How to run (section "In Google Colab").

Colab opens only a chapter's ``.ipynb``; the runs recorded in ``results/`` and the
``data/`` folder stay behind. The first code cell of every chapter (:data:`FIRST_CELL`,
identical in all of them and doing nothing outside Colab) installs the package and calls
:func:`open_repository`, which makes a shallow clone of the repository next to the
notebook and names it in ``$QPCONV_REPOSITORY``; the chapter's
:func:`~qpconv.replication.notebook.setup_chapter` then reads the recorded runs from the
clone and puts the datasets in its ``data/``.

Environment:

* ``QPCONV_REPOSITORY``: the folder of the repository (default ``./qpconv``, in Colab
  ``/content/qpconv``); cloned there when it is missing.
* ``QPCONV_REPOSITORY_URL``: where to clone from (default :data:`REPOSITORY_URL`), e.g. a
  fork, or a ``file://`` path to a local clone (the tests).

This module imports only the standard library.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "DEFAULT_FOLDER",
    "FIRST_CELL",
    "REPOSITORY_BRANCH",
    "REPOSITORY_ENV",
    "REPOSITORY_URL",
    "REPOSITORY_URL_ENV",
    "clone_url",
    "open_repository",
    "repository_folder",
]

REPOSITORY_URL = "https://github.com/qpconv/qpconv"
"""The book's repository (``repository.url`` of ``_config.yml``; a test checks that they agree)."""
REPOSITORY_BRANCH = "main"
"""The branch Colab installs the package from (``repository.branch`` of ``_config.yml``)."""
REPOSITORY_ENV = "QPCONV_REPOSITORY"
"""Environment variable naming the folder of the repository, read by ``setup_chapter``."""
REPOSITORY_URL_ENV = "QPCONV_REPOSITORY_URL"
"""Environment variable naming where :func:`open_repository` clones from."""
DEFAULT_FOLDER = "qpconv"
"""Where the clone goes when ``$QPCONV_REPOSITORY`` is not set, relative to the working directory."""

FIRST_CELL = f"""\
# In Google Colab: install qpconv and fetch the book's repository (recorded runs, data folder). Elsewhere: nothing.
import sys

if "google.colab" in sys.modules:
    import importlib.util
    import subprocess

    if importlib.util.find_spec("qpconv") is None:
        requirement = "qpconv[notebooks] @ git+{REPOSITORY_URL}@{REPOSITORY_BRANCH}"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", requirement], check=True)
    from qpconv.replication.colab import open_repository

    open_repository()"""
"""The source of every chapter's first code cell (tagged ``remove-cell``); a test checks each notebook."""


def repository_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder of the repository: ``$QPCONV_REPOSITORY``, else ``./qpconv``, as an absolute path.

    Example::

        >>> repository_folder({"QPCONV_REPOSITORY": "/content/my-fork"})
        PosixPath('/content/my-fork')
    """
    return Path(environ.get(REPOSITORY_ENV) or DEFAULT_FOLDER).expanduser().absolute()


def clone_url(environ: Mapping[str, str] = os.environ) -> str:
    """Where to clone the repository from: ``$QPCONV_REPOSITORY_URL``, else :data:`REPOSITORY_URL`.

    Example::

        >>> clone_url({})
        'https://github.com/qpconv/qpconv'
    """
    return environ.get(REPOSITORY_URL_ENV) or REPOSITORY_URL


def _is_repository(folder: Path) -> bool:
    return (folder / "_toc.yml").is_file() and (folder / "results").is_dir()


def open_repository(folder: Path | str | None = None, url: str | None = None) -> Path:
    """Make the book's repository available to a notebook that arrived alone, and name it in ``$QPCONV_REPOSITORY``.

    A folder that already holds the repository is used as it is (no network: running
    the cell again costs nothing). Otherwise the repository's default branch is cloned
    with ``git clone --depth 1`` (a few MB) into a temporary folder next to ``folder``
    and moved into place when complete, so an interrupted clone leaves nothing behind.
    The clone's ``data/`` is created; ``setup_chapter`` makes it the data root, where
    torchvision downloads the datasets.

    Args:
        folder: where the repository is or goes; default :func:`repository_folder`.
        url: where to clone from (any URL ``git clone`` takes); default :func:`clone_url`.

    Returns:
        The repository's folder (absolute), also set as ``$QPCONV_REPOSITORY``.

    Raises:
        ValueError: ``folder`` is a file, or a non-empty folder that holds no qpconv
            repository (no ``_toc.yml`` and ``results/``).
        RuntimeError: ``git`` is not installed, or the clone failed (git's message follows).
    """
    target = Path(folder).expanduser().absolute() if folder is not None else repository_folder()
    source = url or clone_url()
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} is a file, not the folder of the qpconv repository; set ${REPOSITORY_ENV} to another folder")
    if target.is_dir() and not _is_repository(target) and any(target.iterdir()):
        raise ValueError(
            f"{target} holds no qpconv repository (no _toc.yml and results/); "
            f"remove it or set ${REPOSITORY_ENV} to another folder"
        )
    if not _is_repository(target):
        _clone(source, target)
    (target / "data").mkdir(exist_ok=True)
    os.environ[REPOSITORY_ENV] = str(target)
    print(f"qpconv: the repository is in {target} (recorded runs in results/, datasets in data/)")
    return target


def _clone(url: str, target: Path) -> None:
    """``git clone --depth 1 url`` into a temporary folder beside ``target``, then moved to ``target``."""
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("git is not installed; it is needed to fetch the qpconv repository")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-clone-", dir=target.parent))
    try:
        result = subprocess.run(
            [git, "clone", "--quiet", "--depth", "1", url, str(staging / "repository")], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"git clone {url} failed: {result.stderr.strip()}")
        if not _is_repository(staging / "repository"):
            raise RuntimeError(f"{url} is not the qpconv repository (no _toc.yml and results/)")
        os.replace(staging / "repository", target)  # an empty folder at target is replaced too
    finally:
        shutil.rmtree(staging, ignore_errors=True)
