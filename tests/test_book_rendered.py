"""The rendered book, in headless Chromium.

The built HTML book, loaded in headless Chromium from a local HTTP server that the tests
start and stop. A page fails when it is blank, its math is not typeset by MathJax (no
``mjx-container`` in the DOM), an image is missing, or the bibliography is empty;
screenshots go to ``_build/screenshots/``. The tests skip, saying why, only when
Chromium is absent or the book has not been built (``make book`` or
``python scripts/build_book.py``). ``make test`` runs them after building the book.
"""

from __future__ import annotations

import functools
import http.server
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
from book_sources import ROOT

BOOK_HTML = Path(os.environ.get("QPCONV_BOOK_HTML", ROOT / "_build" / "executed" / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"


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
    ("notebooks/08_fashion_mnist.html", False, 0),
    ("notebooks/09_cifar10.html", False, 1),
    ("notebooks/10_depth.html", True, 1),
    ("notebooks/11_claims.html", True, 0),
    ("book/reference/core.html", False, 0),
    ("book/reference/core/qpconv.layers.html", False, 0),
    ("book/reference/replication/qpconv.replication.experiments.html", False, 0),
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
    from qpconv.replication.experiments import load_runs

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
    figures = len(re.findall(r"<figure[^>]*>", dom))
    assert figures >= min_figures, f"{page}: {figures} figures, expected at least {min_figures}"
    if min_figures:
        assert dom.count("<figcaption") >= min_figures, f"{page}: figures without captions"
    if page == "book/bibliography.html":
        entries = dom.count('role="doc-biblioentry"') or dom.count('class="citation"')
        assert entries >= 10, f"the bibliography has {entries} entries"
        assert "Quantum Pointwise Convolution" in text
    _assert_not_blank_png(_screenshot(chromium, url, Path(page).stem))


def test_rendered_api_reference_has_every_module_and_signatures(built_book, chromium, server):
    """The reference lists a page per module of the core, and a module's page shows its names' signatures."""
    import pkgutil

    import qpconv

    dom = _dump_dom(chromium, f"{server}/book/reference/core.html")
    for module in pkgutil.iter_modules(qpconv.__path__):
        if not module.name.startswith("_") and module.name != "replication":
            assert f'href="core/qpconv.{module.name}.html"' in dom, f"the reference lists no page for qpconv.{module.name}"
    dom = _dump_dom(chromium, f"{server}/book/reference/core/qpconv.layers.html")
    signature = re.search(r'<dt class="sig sig-object py" id="qpconv\.layers\.QuantumPointwiseConv2d">(.*?)</dt>', dom, re.S)
    assert signature, "no signature of qpconv.layers.QuantumPointwiseConv2d on its reference page"
    text = " ".join(_parse(signature.group(1)).text)
    for parameter in ("in_channels", "out_channels", "n_layers"):
        assert parameter in text, f"the signature lacks {parameter}: {text}"
