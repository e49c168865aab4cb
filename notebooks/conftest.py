"""nbval, once: with ``--executed-notebooks DIR``, every notebook nbval runs is also saved, executed, under DIR.

``make test`` runs ``pytest --nbval-lax notebooks/ --executed-notebooks _build/executed``
and then builds the book from those copies (``scripts/build_book.py --no-execute``), so
each notebook is executed once: nbval checks that every cell runs, and its outputs are
the book's. ``make book`` executes with papermill instead (which also injects ``PRESET``).

A notebook is saved only when every one of its cells passed, together with
``timings.json`` (seconds per notebook), in the layout of ``scripts/build_book.py``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

_cells: dict[Path, list[pytest.Item]] = defaultdict(list)
_failed: set[Path] = set()
_seconds: dict[Path, float] = defaultdict(float)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--executed-notebooks",
        metavar="DIR",
        default=None,
        help="save every notebook that nbval runs, with its outputs, under DIR (e.g. _build/executed)",
    )


def _notebook(item: pytest.Item) -> Path | None:
    """The notebook of an nbval cell item, or None for any other test."""
    if not hasattr(item, "cell_num") or item.parent is None or not hasattr(item.parent, "nb"):
        return None
    return Path(str(item.parent.path))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        notebook = _notebook(item)
        if notebook is not None:
            _cells[notebook].append(item)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    notebook = Path(report.fspath).resolve() if report.fspath.endswith(".ipynb") else None
    if notebook is None:
        return
    _seconds[notebook] += report.duration
    if report.failed or (report.when == "call" and not report.passed):
        _failed.add(notebook)


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = session.config.getoption("--executed-notebooks")
    if target is None:
        return
    root, target = Path(str(session.config.rootpath)), Path(target).resolve()
    timings = {}
    for notebook, items in _cells.items():
        if notebook.resolve() in _failed or any(getattr(item, "test_outputs", None) is None for item in items):
            continue
        for count, item in enumerate(items, start=1):
            item.cell.outputs = item.test_outputs
            item.cell.execution_count = count
        relative = notebook.resolve().relative_to(root)
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(items[0].parent.nb, target / relative)
        timings[str(relative)] = round(_seconds[notebook.resolve()], 1)
    timings_file = target / "timings.json"
    previous = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    timings_file.write_text(json.dumps({**previous, "preset": "quick", "executed by": "nbval", **timings}, indent=2) + "\n")
