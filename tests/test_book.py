"""Checks of the executable book (issue: the book).

Two groups:

* **Sources** (fast, always run): the table of contents points to existing files, the
  notebooks are committed without outputs, have a ``parameters`` cell with the quick
  preset, the ``python3`` kernel and a Colab install cell, their code is plain Python,
  every citation is in ``book/references.bib``, Figs. 1-3 have captions, and the
  configuration keeps MathJax offline and the launch buttons on.
* **Rendered** (tests named ``test_rendered_*``): the built HTML book, loaded in headless
  Chromium from a local HTTP server that the tests start and stop. A page fails when it
  is blank, its math is not typeset by MathJax (no ``mjx-container`` in the DOM), an
  image is missing, or the bibliography is empty; screenshots go to ``_build/screenshots/``.
  They skip, saying why, only when Chromium is absent or the book has not been built
  (``make book`` or ``python scripts/build_book.py``).

``make test`` runs the source checks first and the rendered ones after building the book.
"""

from __future__ import annotations

import ast
import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BOOK_HTML = Path(os.environ.get("QPCONV_BOOK_HTML", ROOT / "_build" / "executed" / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHAPTERS = [
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


# --------------------------------------------------------------------------- sources


def _toc_files() -> list[str]:
    """The table of contents' files, read the way ``scripts/build_book.py`` reads them."""
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    build_book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_book)
    return build_book.toc_files(ROOT / "_toc.yml")


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_toc_points_to_existing_files_and_lists_every_chapter():
    files = _toc_files()
    for entry in files:
        assert any((ROOT / f"{entry}{suffix}").is_file() for suffix in ("", ".md", ".ipynb")), f"_toc.yml: {entry} missing"
    for chapter in CHAPTERS:
        assert f"notebooks/{chapter}" in files, f"chapter {chapter} is not in _toc.yml"
    for page in ("book/intro", "book/how_to_run", "book/replication_notes", "book/bibliography"):
        assert page in files


def test_all_chapter_notebooks_exist():
    assert [nb.stem for nb in NOTEBOOKS] == CHAPTERS


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_committed_without_outputs(notebook):
    nb = _load(notebook)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{notebook.name}: a code cell has outputs; clear them before committing"
            assert cell.get("execution_count") is None, f"{notebook.name}: a code cell has an execution count"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_parameters_kernel_and_colab_cell(notebook):
    nb = _load(notebook)
    assert nb["metadata"]["kernelspec"]["name"] == "python3", "papermill -k python3 and nbval --current-env expect python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    parameters = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1, f"{notebook.name}: expected exactly one cell tagged 'parameters'"
    assert re.search(r'^PRESET = "quick"$', _source(parameters[0]), re.M), "the committed default must be the quick preset"
    first = _source(code[0])
    assert '"google.colab" in sys.modules' in first and "pip" in first, f"{notebook.name}: first code cell must install qpconv on Colab"
    assert nb["cells"][0]["cell_type"] == "markdown" and _source(nb["cells"][0]).startswith("# "), "a notebook starts with its title"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_code_is_plain_python(notebook):
    """No IPython magics or shell escapes: every cell must run under nbval, papermill and plain Python."""
    for index, cell in enumerate(_load(notebook)["cells"]):
        if cell["cell_type"] == "code":
            try:
                ast.parse(_source(cell))
            except SyntaxError as error:
                pytest.fail(f"{notebook.name}, cell {index}: not valid Python: {error}")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_the_package(notebook):
    code = "\n".join(_source(c) for c in _load(notebook)["cells"] if c["cell_type"] == "code")
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
        cells = _load(ROOT / "notebooks" / f"{stem}.ipynb")["cells"]
        figures = [c["metadata"]["mystnb"]["figure"] for c in cells if "figure" in c.get("metadata", {}).get("mystnb", {})]
        named = [f for f in figures if f.get("name") == name]
        assert named and "Fig. " in named[0]["caption"], f"{stem}: figure {name} with a caption is missing"
    # every figure cell of every chapter has a caption
    for notebook in NOTEBOOKS:
        for cell in _load(notebook)["cells"]:
            figure = cell.get("metadata", {}).get("mystnb", {}).get("figure")
            if figure is not None:
                assert figure.get("caption", "").strip() and figure.get("name"), f"{notebook.name}: figure without caption/name"


def _bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(), re.M))


def test_every_citation_is_in_the_bibliography():
    keys = _bib_keys()
    texts = [p.read_text() for p in (ROOT / "book").glob("*.md")]
    texts += [_source(c) for nb in NOTEBOOKS for c in _load(nb)["cells"] if c["cell_type"] == "markdown"]
    cited = {key.strip() for text in texts for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text) for key in group.split(",")}
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


def test_binder_and_conda_environments_install_the_package():
    postbuild = (ROOT / "binder" / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.", postbuild), "binder/postBuild must install the package itself"
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)
    for env_file in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        env = yaml.safe_load(env_file.read_text())
        assert env["channels"] == ["conda-forge"]
        names = {re.split(r"[<>=\s]", d)[0] for d in env["dependencies"] if isinstance(d, str)}
        assert {"python", "pytorch", "torchvision", "pennylane", "matplotlib"} <= names, env_file
    pip = next(d["pip"] for d in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"] if isinstance(d, dict))
    assert any(line.startswith("-e .") for line in pip), "environment.yml must install the package with pip -e ."


def test_makefile_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("book:", "lab:", "test:"):
        assert re.search(rf"^{target}", makefile, re.M), f"Makefile target {target} missing"
    assert "--nbval-lax --nbval-current-env notebooks/" in makefile
    assert "scripts/build_book.py" in makefile


# --------------------------------------------------------------------------- rendered


class _PageParser(HTMLParser):
    """Collects image sources, script/stylesheet URLs and visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.resources: list[str] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        if tag == "script" and attrs.get("src"):
            self.resources.append(attrs["src"])
        if tag == "link" and "stylesheet" in (attrs.get("rel") or "") and attrs.get("href"):
            self.resources.append(attrs["href"])
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(data.strip())


def _parse(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def built_book() -> Path:
    if not (BOOK_HTML / "index.html").is_file():
        pytest.skip(f"the book has not been built ({BOOK_HTML}/index.html missing): run `make book` first")
    return BOOK_HTML


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (Debian: apt-get install chromium; `make system-deps` does it)")


@pytest.fixture(scope="module")
def server(built_book):
    """A local HTTP server on 127.0.0.1 serving the built book, stopped after the tests."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _browse(chromium: str, url: str, mode: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="qpconv-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--window-size=1280,1600",
            *mode,
            url,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=180)


def _dump_dom(chromium: str, url: str) -> str:
    result = _browse(chromium, url, ["--dump-dom"])
    assert result.returncode == 0, f"chromium failed on {url}: {result.stderr[-2000:]}"
    return result.stdout


def _screenshot(chromium: str, url: str, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    path.unlink(missing_ok=True)
    result = _browse(chromium, url, [f"--screenshot={path}"])
    assert result.returncode == 0 and path.is_file(), f"no screenshot of {url}: {result.stderr[-2000:]}"
    return path


def _assert_not_blank_png(path: Path) -> None:
    import matplotlib.image

    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100, f"{path}: unexpected size {pixels.shape}"
    assert float(pixels[..., :3].std()) > 0.02, f"{path}: the screenshot is (nearly) uniform, i.e. a blank page"


def _images_resolve(page: Path, sources: list[str]) -> list[str]:
    missing = []
    for src in sources:
        if src.startswith("data:"):
            continue
        parsed = urllib.parse.urlparse(src)
        if parsed.scheme in ("http", "https"):
            missing.append(f"{src} (remote)")
            continue
        target = (page.parent / urllib.parse.unquote(parsed.path)).resolve()
        if not target.is_file() or target.stat().st_size == 0:
            missing.append(src)
    return missing


PAGES = [
    # (page, needs math, minimum number of figures)
    ("book/intro.html", True, 0),
    ("book/how_to_run.html", False, 0),
    ("book/replication_notes.html", True, 0),
    ("notebooks/01_pointwise_convolution.html", True, 2),
    ("notebooks/02_amplitude_encoding.html", True, 1),
    ("notebooks/03_single_qubit_gates.html", True, 1),
    ("notebooks/04_entangling_blocks.html", True, 3),
    ("notebooks/05_quantum_pointwise_layer.html", True, 1),
    ("notebooks/06_gradients.html", True, 3),
    ("notebooks/07_hybrid_models.html", True, 2),
    ("notebooks/08_fashion_mnist.html", False, 1),
    ("notebooks/09_cifar10.html", False, 1),
    ("notebooks/10_depth.html", True, 1),
    ("notebooks/11_claims.html", True, 0),
    ("book/bibliography.html", False, 0),
]


RECORDED_FIGURES = {
    "notebooks/08_fashion_mnist.html": ("fig4_5", 2),
    "notebooks/09_cifar10.html": ("fig6_7", 2),
    "notebooks/10_depth.html": ("fig8", 1),
}
"""Replication pages: (experiment, figures drawn from its recorded full runs). Without a
recorded run those figures are replaced by a message; the quick-run figure is always there."""


def _expected_figures(page: str, min_figures: int) -> int:
    from qpconv.experiments import load_runs

    if page not in RECORDED_FIGURES:
        return min_figures
    experiment, figures = RECORDED_FIGURES[page]
    return min_figures + (figures if load_runs(experiment, "full", ROOT / "results") else 0)


def test_rendered_book_has_every_page_and_no_remote_assets(built_book):
    for page, _, _ in PAGES:
        assert (built_book / page).is_file(), f"{page} was not built"
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file(), "the offline MathJax copy is missing"
    for html_file in built_book.rglob("*.html"):
        parsed = _parse(html_file.read_text(encoding="utf-8"))
        remote = [r for r in parsed.resources if urllib.parse.urlparse(r).scheme in ("http", "https") or r.startswith("//")]
        assert not remote, f"{html_file.relative_to(built_book)} loads remote scripts/styles: {remote}"
    chapter = (built_book / "notebooks" / "01_pointwise_convolution.html").read_text(encoding="utf-8")
    assert "_static/mathjax/tex-chtml.js" in chapter
    assert "cdn.jsdelivr.net/npm/mathjax" not in chapter


def test_rendered_index_redirects_to_the_introduction(built_book, chromium, server):
    dom = _dump_dom(chromium, f"{server}/index.html")
    assert "Reading map" in dom, "index.html does not lead to the introduction"
    _assert_not_blank_png(_screenshot(chromium, f"{server}/index.html", "index"))


@pytest.mark.parametrize("page,needs_math,min_figures", PAGES, ids=[p for p, _, _ in PAGES])
def test_rendered_page_in_browser(built_book, chromium, server, page, needs_math, min_figures):
    url = f"{server}/{page}"
    min_figures = _expected_figures(page, min_figures)
    dom = _dump_dom(chromium, url)
    parsed = _parse(dom)
    text = " ".join(parsed.text)
    assert len(text) > 1500, f"{page} looks blank ({len(text)} characters of text)"
    if needs_math:
        assert dom.count("<mjx-container") > 0, f"{page}: math was not typeset by MathJax (no mjx-container)"
        assert "<mjx-merror" not in dom, f"{page}: MathJax could not parse some math"
    missing = _images_resolve(built_book / page, parsed.images)
    assert not missing, f"{page}: images that do not resolve: {missing}"
    figures = len(re.findall(r'<figure[^>]*>', dom))
    assert figures >= min_figures, f"{page}: {figures} figures, expected at least {min_figures}"
    if min_figures:
        assert dom.count("<figcaption") >= min_figures, f"{page}: figures without captions"
    if page == "book/bibliography.html":
        entries = dom.count('role="doc-biblioentry"') or dom.count('class="citation"')
        assert entries >= 10, f"the bibliography has {entries} entries"
        assert "Quantum Pointwise Convolution" in text
    _assert_not_blank_png(_screenshot(chromium, url, Path(page).stem))
