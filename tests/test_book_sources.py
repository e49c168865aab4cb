"""Source checks of the executable book: table of contents, notebooks, citations, configuration.

Fast, always run: the table of contents points to existing files, the notebooks are
committed without outputs, have a ``parameters`` cell with the quick preset and the
``python3`` kernel (their first cell, for Colab, is checked by ``test_colab.py``), their
code is plain Python with no setup lines of its own (that is :func:`qpconv.replication.notebook.setup_chapter`'s job),
every citation is in ``book/references.bib``, every figure has a caption, and the
configuration keeps MathJax offline and the launch buttons on. The rendered book is
checked by ``test_book_rendered.py``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
import types

import pytest
import yaml
from book_sources import CHAPTERS, NOTEBOOKS, ROOT, cell_source, load_notebook, toc_files

EXPECTED_CHAPTERS = [
    "01_pointwise_convolution",
    "02_amplitude_encoding",
    "03_single_qubit_gates",
    "04_entangling_blocks",
    "05_quantum_pointwise_layer",
    "06_gradients",
    "07_hybrid_models",
    "08_fashion_mnist",
    "09_cifar10",
    "10_depth",
    "11_claims",
]


def test_toc_points_to_existing_files_and_lists_every_chapter():
    files = toc_files()
    for entry in files:
        assert any((ROOT / f"{entry}{suffix}").is_file() for suffix in ("", ".md", ".ipynb")), f"_toc.yml: {entry} missing"
    for chapter in EXPECTED_CHAPTERS:
        assert f"notebooks/{chapter}" in files, f"chapter {chapter} is not in _toc.yml"
    for page in ("book/intro", "book/how_to_run", "book/replication_notes", "book/reference/core", "book/reference/replication"):
        assert page in files
    assert files[-1] == "book/bibliography"


def _reference_sections() -> dict[str, list[str]]:
    """``{page: [glob, ...]}`` of the API reference pages in the "Reference" part of ``_toc.yml``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    (reference,) = [part for part in toc["parts"] if part["caption"] == "Reference"]
    return {
        chapter["file"]: [section["glob"] for section in chapter.get("sections", [])]
        for chapter in reference["chapters"]
        if chapter["file"].startswith("book/reference/")
    }


def test_api_reference_generates_a_page_per_module_of_both_packages():
    """autosummary writes the pages of every module that modules.rst's packages hold, found recursively;
    the table of contents takes them by glob, so a new module needs no edit."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    for extension in ("sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.napoleon"):
        assert extension in config["sphinx"]["extra_extensions"]
    sphinx = config["sphinx"]["config"]
    assert sphinx["autosummary_generate"] == ["book/reference/modules.rst"]
    assert (ROOT / sphinx["templates_path"][0] / "autosummary" / "module.rst").is_file()
    manifest = (ROOT / "book" / "reference" / "modules.rst").read_text()
    directives = re.findall(r"^\.\. autosummary::\n((?:   .*\n|\n)+)", manifest, re.M)
    entries = {
        re.search(r":toctree: (\S+)", body).group(1): re.findall(r"^   (qpconv[\w.]*)$", body, re.M) for body in directives
    }
    assert entries == {"core": ["qpconv"], "replication": ["qpconv.replication"]}
    assert all(":recursive:" in body for body in directives)
    assert _reference_sections() == {
        "book/reference/core": ["book/reference/core/qpconv.*"],
        "book/reference/replication": ["book/reference/replication/qpconv.replication.*"],
    }
    # the packages' own generated pages only drive the recursion: core.md and replication.md show their docstrings
    excluded = {f"book/reference/{name}" for name in ("modules.rst", "core/qpconv.rst", "replication/qpconv.replication.rst")}
    assert excluded <= set(config["exclude_patterns"])


def _public_definitions(module: types.ModuleType) -> set[str]:
    """Classes and functions ``module`` defines (not imports) under a name without a leading underscore."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }


def test_every_module_lists_its_public_names_in_all():
    """The reference pages document a module's ``__all__`` (the module template): a public class or
    function left out of it is missing from the API pages, and every cross-reference to it fails
    the ``-W`` book build at the end of CI. Here it fails in seconds, naming the module."""
    import qpconv

    missing = {}
    for info in pkgutil.walk_packages(qpconv.__path__, "qpconv."):
        if info.name == "qpconv.__main__":
            continue
        module = importlib.import_module(info.name)
        public = _public_definitions(module)
        if public and not hasattr(module, "__all__"):
            missing[info.name] = "no __all__"
        elif public - set(getattr(module, "__all__", ())):
            missing[info.name] = sorted(public - set(module.__all__))
    assert not missing, f"public but not in __all__ (add it, or name it with a leading underscore): {missing}"


def test_every_notebook_is_a_chapter_of_the_toc():
    assert sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) == sorted(CHAPTERS)
    assert CHAPTERS[: len(EXPECTED_CHAPTERS)] == EXPECTED_CHAPTERS


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_committed_without_outputs(notebook):
    nb = load_notebook(notebook)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{notebook.name}: a code cell has outputs; clear them before committing"
            assert cell.get("execution_count") is None, f"{notebook.name}: a code cell has an execution count"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_parameters_kernel_and_title(notebook):
    """The Colab cell that comes first is checked by ``test_colab.py``."""
    nb = load_notebook(notebook)
    assert nb["metadata"]["kernelspec"]["name"] == "python3", "papermill -k python3 and nbval --current-env expect python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    parameters = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1, f"{notebook.name}: expected exactly one cell tagged 'parameters'"
    assert re.search(r'^PRESET = "quick"$', cell_source(parameters[0]), re.M), "the committed default must be the quick preset"
    assert nb["cells"][0]["cell_type"] == "markdown" and cell_source(nb["cells"][0]).startswith("# "), (
        "a notebook starts with its title"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_code_is_plain_python(notebook):
    """No IPython magics or shell escapes: every cell must run under nbval, papermill and plain Python."""
    for index, cell in enumerate(load_notebook(notebook)["cells"]):
        if cell["cell_type"] == "code":
            try:
                ast.parse(cell_source(cell))
            except SyntaxError as error:
                pytest.fail(f"{notebook.name}, cell {index}: not valid Python: {error}")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_the_package(notebook):
    code = "\n".join(cell_source(c) for c in load_notebook(notebook)["cells"] if c["cell_type"] == "code")
    assert re.search(r"^from qpconv|^import qpconv", code, re.M), f"{notebook.name} must use the qpconv package"


def test_paper_figures_have_captions():
    expected = {
        "04_entangling_blocks": "fig-1",
        "05_quantum_pointwise_layer": "fig-2",
        "07_hybrid_models": "fig-3",
        "08_fashion_mnist": "fig-5-replicated",
        "09_cifar10": "fig-7-replicated",
        "10_depth": "fig-8-replicated",
    }
    for stem, name in expected.items():
        cells = load_notebook(ROOT / "notebooks" / f"{stem}.ipynb")["cells"]
        figures = [c["metadata"]["mystnb"]["figure"] for c in cells if "figure" in c.get("metadata", {}).get("mystnb", {})]
        named = [f for f in figures if f.get("name") == name]
        assert named and "Fig. " in named[0]["caption"], f"{stem}: figure {name} with a caption is missing"
    # every figure cell of every chapter has a caption
    for notebook in NOTEBOOKS:
        for cell in load_notebook(notebook)["cells"]:
            figure = cell.get("metadata", {}).get("mystnb", {}).get("figure")
            if figure is not None:
                assert figure.get("caption", "").strip() and figure.get("name"), f"{notebook.name}: figure without caption/name"


def _bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(), re.M))


def test_every_citation_is_in_the_bibliography():
    keys = _bib_keys()
    texts = [p.read_text() for p in (ROOT / "book").glob("*.md")]
    texts += [cell_source(c) for nb in NOTEBOOKS for c in load_notebook(nb)["cells"] if c["cell_type"] == "markdown"]
    cited = {
        key.strip() for text in texts for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text) for key in group.split(",")
    }
    assert cited, "no citations found"
    assert not cited - keys, f"cited but not in book/references.bib: {sorted(cited - keys)}"
    assert "ning2024qpconv" in cited


def test_config_keeps_mathjax_offline_and_launch_buttons():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["only_build_toc_files"] is True
    assert config["execute"]["execute_notebooks"] == "off", "notebooks are executed by papermill, not by the build"
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    assert "mathjax_path" not in (config["sphinx"].get("config") or {}), "mathjax_path would override the offline copy"
    for bib in config["bibtex_bibfiles"]:
        assert (ROOT / bib).is_file()
    assert config["repository"] == {"url": "https://github.com/qpconv/qpconv", "path_to_book": "", "branch": "main"}
    assert config["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")
    assert config["launch_buttons"]["binderhub_url"].startswith("https://mybinder.org")


def _pyproject_requirements() -> dict[str, str]:
    """``{distribution: specifier}`` of the core dependencies and every extra in pyproject.toml (qpconv itself left out)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    parsed = {}
    for requirement in requirements:
        name, specifier = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?(.*)", requirement).groups()
        if name != "qpconv":
            parsed[name.lower()] = specifier.strip()
    return parsed


CONDA_NAMES = {"torch": "pytorch", "pyyaml": "pyyaml"}
"""conda-forge names of PyPI distributions where they differ."""


def test_binder_and_conda_environments_agree_with_pyproject():
    postbuild = (ROOT / "binder" / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.", postbuild), "binder/postBuild must install the package itself"
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)
    required = _pyproject_requirements()
    for env_file in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        env = yaml.safe_load(env_file.read_text())
        assert env["channels"] == ["conda-forge"]
        conda = {}
        for dependency in env["dependencies"]:
            if isinstance(dependency, str):
                name, specifier = re.match(r"([A-Za-z0-9_.-]+)(.*)", dependency).groups()
                conda[name] = specifier.strip()
        for name in ("torch", "numpy", "pennylane", "torchvision", "pandas", "matplotlib", "seaborn", "tqdm"):
            conda_name = CONDA_NAMES.get(name, name)
            assert conda_name in conda, f"{env_file.name}: {conda_name} is missing"
            assert conda[conda_name] == required[name], (
                f"{env_file.name}: {conda_name}{conda[conda_name]}, pyproject says {required[name]}"
            )
    pip = next(d["pip"] for d in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"] if isinstance(d, dict))
    assert any(line.startswith("-e .") for line in pip), "environment.yml must install the package with pip -e ."


SETUP_LINES = re.compile(
    r"^\s*(assert PRESET|.*warnings\.filterwarnings|.*plt\.rcParams|.*os\.environ|.*QPCONV_DATA|"
    r".*torch\.set_default_dtype|.*pd\.set_option|.*\.\./results|.*\.\./data)",
    re.M,
)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_set_up_through_the_package_only(notebook):
    """Setup (PRESET check, data root, styles, warnings, seeds) is ``setup_chapter``'s: no notebook repeats it."""
    code = [cell_source(c) for c in load_notebook(notebook)["cells"] if c["cell_type"] == "code"]
    offending = [match.group(0).strip() for cell in code for match in SETUP_LINES.finditer(cell)]
    assert not offending, f"{notebook.name}: setup lines that belong in qpconv.replication.notebook: {offending}"
    assert sum("setup_chapter(PRESET" in cell for cell in code) == 1, f"{notebook.name}: call setup_chapter(PRESET, ...) once"


def test_makefile_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("book:", "lab:", "test:"):
        assert re.search(rf"^{target}", makefile, re.M), f"Makefile target {target} missing"
    assert "--nbval-lax --nbval-current-env notebooks/ --executed-notebooks" in makefile, "nbval executes the notebooks once"
    assert "scripts/build_book.py --no-execute" in makefile, "the tested book is built from nbval's executions"
    assert "scripts/build_book.py --preset" in makefile


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_a_unique_id(notebook):
    """nbformat 4.5 requires cell ids; a cell added by hand without one makes nbformat warn on every write."""
    nb = load_notebook(notebook)
    assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5)
    ids = [cell.get("id") for cell in nb["cells"]]
    assert None not in ids and len(set(ids)) == len(ids), f"{notebook.name}: cells without ids or with repeated ids"


TYPED_RESULT = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?\s?(?:%|points?\b)")
CONFIDENCE_LEVEL = re.compile(r"\b95 % (?:confidence|interval|t interval)")
GLUE = re.compile(r"\{glue(?::\w+)?\}`[^`]*`")
REPLICATION_CHAPTERS = [notebook for notebook in NOTEBOOKS if int(notebook.stem[:2]) >= 8]


@pytest.mark.parametrize("notebook", REPLICATION_CHAPTERS, ids=lambda p: p.stem)
def test_replication_chapters_type_no_accuracy_the_runs_or_the_paper_give(notebook):
    """Numbers from runs (and the paper's quoted values) come from the executed notebook through glue, never typed."""
    for index, cell in enumerate(load_notebook(notebook)["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = CONFIDENCE_LEVEL.sub("", GLUE.sub("", cell_source(cell)))
        typed = TYPED_RESULT.findall(text)
        assert not typed, f"{notebook.name}, cell {index}: typed numbers {typed}; glue them from the executed notebook"


def test_the_typed_number_check_catches_what_it_should():
    assert TYPED_RESULT.findall("quantum 93.05 % and +0.64 points") == ["93.05 %", "0.64 points"]
    assert not TYPED_RESULT.findall(CONFIDENCE_LEVEL.sub("", "a 95 % interval, {glue:text}`x` %"))
    assert not TYPED_RESULT.findall(GLUE.sub("", "{glue:text}`quantum_final_test` %"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_headings_carry_no_number_of_their_own(notebook):
    """The table of contents numbers every chapter's sections ("13.9."); a typed "9." would render as "13.9. 9."."""
    for cell in load_notebook(notebook)["cells"]:
        if cell["cell_type"] == "markdown":
            numbered = re.findall(r"^#+ \d+[.)] .*$", cell_source(cell), re.M)
            assert not numbered, f"{notebook.name}: heading with a typed number: {numbered[0]!r}"
            typed = re.findall(r"\b[Ss]ections? \d+\b", cell_source(cell))
            assert not typed, f"{notebook.name}: '{typed[0]}' names a section by a typed number; name it by its title"
