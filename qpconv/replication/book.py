"""The book's table of contents, and its build: execute the notebooks, then the HTML (``make book``).

Book: How to run (section "On your own computer").

The notebooks in ``notebooks/`` are committed without outputs. :func:`main` (run as
``python scripts/build_book.py``)

1. copies the book's sources (``_config.yml``, ``_toc.yml``, ``book/`` and any other
   page the table of contents names) into a staging folder (default ``_build/executed``);
2. executes every notebook named in ``_toc.yml`` with papermill into that folder,
   passing ``PRESET`` (``quick`` or ``full``) to the cell tagged ``parameters``; the
   kernel runs in the notebook's own folder of the repository, exactly like nbval.
   With ``--no-execute`` it uses the executed notebooks already in the staging folder
   instead (``make test`` has nbval execute them once and save them there, see
   ``notebooks/conftest.py``);
3. builds the book from the staging folder with ``jupyter-book build -W -n --keep-going``
   (execution is off in ``_config.yml``), so any warning or failed notebook fails;
4. prints the per-notebook execution seconds (also saved to ``timings.json``) and
   where the HTML is.

Usage::

    python scripts/build_book.py [--preset quick|full] [--only 03_single] [--no-build] [--no-execute]

Environment: ``PRESET`` gives the default preset; ``QPCONV_DATA`` is passed on to the
kernels unchanged (the data folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .notebook import PRESET_NAMES

__all__ = ["ROOT", "main", "toc_files", "toc_notebooks"]

ROOT = Path(__file__).resolve().parents[2]
"""The repository (the book's sources live at its top)."""


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every ``file:`` entry of a jb-book table of contents (plus the root), in reading order."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return files


def _resolve(entry: str) -> Path:
    """The source file of a toc entry (the toc leaves the suffix out)."""
    for suffix in ("", ".ipynb", ".md"):
        path = ROOT / f"{entry}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"_toc.yml names {entry!r} but no {entry}.ipynb or {entry}.md exists")


def _stage_sources(staging: Path) -> list[Path]:
    """Copy config, toc and prose into ``staging``; return the notebooks to execute."""
    staging.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, staging / name)
    if (staging / "book").exists():
        shutil.rmtree(staging / "book")
    shutil.copytree(ROOT / "book", staging / "book")
    notebooks = []
    for entry in toc_files(ROOT / "_toc.yml"):
        source = _resolve(entry)
        if source.suffix == ".ipynb":
            notebooks.append(source)
        elif not source.is_relative_to(ROOT / "book"):
            target = staging / source.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return notebooks


def _execute(notebooks: list[Path], staging: Path, preset: str, timeout: int) -> tuple[dict[str, float], list[str]]:
    """Run each notebook with papermill into ``staging``; return seconds per notebook and failures."""
    import papermill

    timings: dict[str, float] = {}
    failures: list[str] = []
    for source in notebooks:
        rel = source.relative_to(ROOT)
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"[book] executing {rel} (PRESET={preset}) ...", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(source),
                str(target),
                parameters={"PRESET": preset},
                kernel_name="python3",
                language="python",
                cwd=str(source.parent),
                progress_bar=False,
                execution_timeout=timeout,
            )
        except Exception as exc:  # papermill.PapermillExecutionError and kernel failures
            failures.append(f"{rel}: {type(exc).__name__}: {str(exc).strip()[-2000:]}")
            print(f"[book] FAILED {rel}", flush=True)
        else:
            _hide_injected_parameters(target)
        timings[str(rel)] = round(time.perf_counter() - start, 1)
        print(f"[book] {rel}: {timings[str(rel)]:.1f} s", flush=True)
    return timings, failures


def _hide_injected_parameters(notebook: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell``: readers see the notebook's own
    ``parameters`` cell once, not a second copy of it."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, notebook)


def _jupyter_book_command() -> list[str]:
    script = Path(sys.executable).with_name("jupyter-book")
    if script.exists():
        return [str(script)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    raise SystemExit("jupyter-book is not installed: pip install -e '.[book]'")


def main(argv: list[str] | None = None) -> int:
    """``make book``: stage, execute and build the book as the module's docstring describes.

    Args:
        argv: the command line after the program name (default ``sys.argv[1:]``).

    Returns:
        The exit status, 0 when every notebook ran and the build had no warning.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=PRESET_NAMES, default=os.environ.get("PRESET", "quick") or "quick")
    parser.add_argument("--staging", type=Path, default=ROOT / "_build" / "executed")
    parser.add_argument(
        "--only", action="append", default=[], help="execute only notebooks whose name contains this (repeatable)"
    )
    parser.add_argument("--no-build", action="store_true", help="execute the notebooks but do not build the HTML")
    parser.add_argument(
        "--no-execute",
        action="store_true",
        help="build from the executed notebooks already in the staging folder (saved there by nbval)",
    )
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default 900 quick, 7200 full)")
    args = parser.parse_args(argv)
    if args.preset not in PRESET_NAMES:
        parser.error(f"PRESET must be one of {PRESET_NAMES}, got {args.preset!r}")
    timeout = args.timeout or (900 if args.preset == "quick" else 7200)
    # the kernels inherit the environment: the data root of `make` (absolute), else the repository's data/
    os.environ["QPCONV_DATA"] = os.environ.get("QPCONV_DATA") or str(ROOT / "data")
    os.environ["PRESET"] = args.preset
    staging = args.staging.resolve()

    notebooks = _stage_sources(staging)
    if args.only:
        notebooks = [nb for nb in notebooks if any(key in nb.name for key in args.only)]
    if not args.no_execute:
        timings, failures = _execute(notebooks, staging, args.preset, timeout)
        timings_path = staging / "timings.json"
        previous = json.loads(timings_path.read_text()) if timings_path.exists() else {}
        previous.update({"preset": args.preset, **timings})
        timings_path.write_text(json.dumps(previous, indent=2) + "\n")
        print(f"\n[book] execution seconds per notebook (PRESET={args.preset}):")
        for name, seconds in timings.items():
            print(f"  {seconds:8.1f}  {name}")
        print(f"  {sum(timings.values()):8.1f}  total")
        if failures:
            print("\n[book] notebooks that failed:\n  " + "\n  ".join(failures), file=sys.stderr)
            return 1
    if args.no_build:
        return 0

    missing = [nb for nb in toc_notebooks(staging) if not nb.exists()]
    if missing:
        print("[book] not executed yet: " + ", ".join(map(str, missing)), file=sys.stderr)
        return 1
    command = _jupyter_book_command() + ["build", str(staging), "-W", "-n", "--keep-going"]
    print("\n[book] " + " ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT)
    index = staging / "_build" / "html" / "index.html"
    if result.returncode != 0 or not index.exists():
        print("[book] the book build failed (warnings count as errors)", file=sys.stderr)
        return result.returncode or 1
    print(f"\n[book] the book is at {index}\n[book] open file://{index}")
    return 0


def toc_notebooks(base: Path = ROOT) -> list[Path]:
    """Every notebook the table of contents names, in reading order, as a path under ``base``.

    With the default ``base`` these are the sources; with a staging folder, where their
    executed copies must be.
    """
    return [
        base / _resolve(entry).relative_to(ROOT) for entry in toc_files(ROOT / "_toc.yml") if _resolve(entry).suffix == ".ipynb"
    ]
