"""A chapter opened alone, as Colab opens it, still draws from the recorded runs.

Every notebook's first code cell is :data:`~qpconv.replication.colab.FIRST_CELL`; in
Colab it installs qpconv and calls :func:`~qpconv.replication.colab.open_repository`,
which clones the repository next to the notebook. The end-to-end test runs the claims
chapter (the fastest chapter that reads every recorded run and trains nothing) in an
empty folder holding only the notebook, with nbclient, and "in Colab" simulated so:

* the kernel starts with an IPython startup file (in a temporary ``$IPYTHONDIR``) that
  puts a module ``google.colab`` into ``sys.modules``, as Colab's kernel has it;
* pip is not run: qpconv is importable already (this checkout), and the cell installs
  only when it is not;
* the network is replaced by this checkout: ``$QPCONV_REPOSITORY_URL`` is
  ``file://<repository>``, so the cell clones its committed state.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from qpconv.replication import colab
from qpconv.replication.book import ROOT
from qpconv.replication.colab import FIRST_CELL, REPOSITORY_ENV, REPOSITORY_URL_ENV, open_repository
from qpconv.replication.datasets import DATA_ROOT_ENV
from qpconv.replication.experiments import EXPERIMENTS, load_runs
from qpconv.replication.notebook import setup_chapter

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FAKE_COLAB = 'import sys, types\n\nsys.modules["google.colab"] = types.ModuleType("google.colab")\n'


def _is_git_checkout(folder: Path) -> bool:
    if shutil.which("git") is None:
        return False
    return subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True).returncode == 0


needs_git_checkout = pytest.mark.skipif(not _is_git_checkout(ROOT), reason="needs git and a git checkout of the repository")
LOCAL_URL = ROOT.as_uri()
"""The repository itself as the place to clone from (``file://``), instead of GitHub."""


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No repository, clone URL or data root in the environment; whatever the test sets is undone."""
    for name in (REPOSITORY_ENV, REPOSITORY_URL_ENV, DATA_ROOT_ENV):
        monkeypatch.setenv(name, "")  # recorded, so that values set during the test are removed afterwards
        monkeypatch.delenv(name)
    return monkeypatch


def test_the_repository_url_is_the_books():
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    assert repository["url"] == colab.REPOSITORY_URL
    assert repository["branch"] == colab.REPOSITORY_BRANCH
    assert f"git+{repository['url']}@{repository['branch']}" in FIRST_CELL


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_notebook_starts_with_the_colab_cell(notebook: Path):
    first = next(cell for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code")
    assert first.source == FIRST_CELL, f"{notebook.name}: the first code cell must be qpconv.replication.colab.FIRST_CELL"
    assert "remove-cell" in first.metadata.get("tags", []), f"{notebook.name}: tag the Colab cell remove-cell"


def test_the_first_cell_does_nothing_outside_colab(clean_environment: pytest.MonkeyPatch):
    clean_environment.delitem(sys.modules, "google.colab", raising=False)

    def refuse(*args, **kwargs):
        raise AssertionError(f"the first cell ran a command outside Colab: {args}")

    clean_environment.setattr(subprocess, "run", refuse)
    namespace: dict = {}
    exec(FIRST_CELL, namespace)
    assert "open_repository" not in namespace
    assert REPOSITORY_ENV not in os.environ


@needs_git_checkout
def test_open_repository_clones_once_and_names_the_clone(tmp_path: Path, clean_environment: pytest.MonkeyPatch):
    clean_environment.chdir(tmp_path)
    clean_environment.setenv(REPOSITORY_URL_ENV, LOCAL_URL)
    folder = open_repository()
    assert folder == tmp_path / "qpconv"
    assert (folder / "results").is_dir() and (folder / "data").is_dir()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["qpconv"], "the temporary clone folder is removed"
    assert setup_chapter("quick").root == folder
    assert Path(os.environ[DATA_ROOT_ENV]) == folder / "data"
    # a second call finds the clone and fetches nothing (this URL does not exist)
    assert open_repository(url=(tmp_path / "nowhere").as_uri()) == folder


def test_open_repository_refuses_a_folder_that_is_not_the_repository(tmp_path: Path, clean_environment: pytest.MonkeyPatch):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"file is a file, not the folder of the qpconv repository"):
        open_repository(tmp_path / "file")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("")
    with pytest.raises(ValueError, match=r"other holds no qpconv repository \(no _toc.yml and results/\)"):
        open_repository(tmp_path / "other")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_failed_clone_says_so_and_leaves_nothing(tmp_path: Path, clean_environment: pytest.MonkeyPatch):
    with pytest.raises(RuntimeError, match=r"^git clone file://.*/nowhere failed: "):
        open_repository(tmp_path / "qpconv", url=(tmp_path / "nowhere").as_uri())
    assert list(tmp_path.iterdir()) == []
    assert REPOSITORY_ENV not in os.environ


def test_setup_chapter_refuses_a_repository_variable_without_the_book(tmp_path: Path, clean_environment: pytest.MonkeyPatch):
    clean_environment.setenv(REPOSITORY_ENV, str(tmp_path))
    with pytest.raises(ValueError, match=r"^\$QPCONV_REPOSITORY is '.*', which holds no qpconv repository \(no _toc.yml\)$"):
        setup_chapter("quick")


def _glued(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """The values a notebook glued (myst-nb), by name."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                values[name] = output["data"]["application/papermill.record/text/plain"].strip("'")
    return values


@needs_git_checkout
@pytest.mark.slow
def test_the_claims_chapter_opened_alone_in_colab_draws_from_the_recorded_runs(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
):
    nbclient = pytest.importorskip("nbclient")
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-fake-colab.py").write_text(FAKE_COLAB)
    clean_environment.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    clean_environment.setenv(REPOSITORY_URL_ENV, LOCAL_URL)
    folder = tmp_path / "content"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / "11_claims.ipynb", folder)
    notebook = nbformat.read(folder / "11_claims.ipynb", as_version=4)
    probe = "import json, os\nprint(json.dumps({'root': str(chapter.root), 'data': os.environ['QPCONV_DATA']}))"
    notebook.cells.append(nbformat.v4.new_code_cell(probe))

    nbclient.NotebookClient(notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()

    clone = folder / "qpconv"
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)
    assert f"qpconv: the repository is in {clone}" in printed, "the first cell must open the repository"
    where = json.loads(notebook.cells[-1].outputs[0]["text"])
    assert where == {"root": str(clone), "data": str(clone / "data")}
    for experiment in EXPERIMENTS:  # the clone holds the committed runs (an experiment may have none recorded yet)
        runs = load_runs(experiment, "full", clone / "results")
        cloned = {(run.config.model, run.config.seed) for run in runs}
        here = {(run.config.model, run.config.seed) for run in load_runs(experiment, "full", ROOT / "results")}
        assert cloned <= here, f"the clone holds runs of {experiment} that this checkout does not"
        if experiment in ("fig4_5", "fig6_7", "fig8"):  # the paper's, which the claims chapter draws
            assert cloned, f"the clone holds no recorded run of {experiment}"
        complete = sum(run.completed for run in runs)
        assert f"{experiment}: {complete} complete run(s) of {len(runs)} recorded" in printed
    assert math.isfinite(float(_glued(notebook)["sd_fmnist"])), "the seeds' sd comes from the recorded runs"
