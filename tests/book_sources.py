"""What the book's tests share: the repository, its chapters, and reading notebooks."""

from __future__ import annotations

import json
from pathlib import Path

from qpconv.replication.book import ROOT, toc_files, toc_notebooks

__all__ = ["CHAPTERS", "NOTEBOOKS", "ROOT", "cell_source", "load_notebook", "toc_files"]

NOTEBOOKS = toc_notebooks()
"""The chapters' notebooks, in the order of the table of contents."""
CHAPTERS = [notebook.stem for notebook in NOTEBOOKS]


def load_notebook(path: Path) -> dict:
    return json.loads(path.read_text())


def cell_source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
