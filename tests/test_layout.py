"""The layout's one rule: the core imports nothing of the replication wing and no optional library.

Each check runs in a fresh Python process, so that nothing imported by other tests counts.
"Without" a library means Python's own marker of an unimportable module (``None`` in
``sys.modules``), as on a machine where ``pip install qpconv`` installed no extra.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import qpconv

PACKAGE = Path(qpconv.__file__).parent
OPTIONAL = ("torchvision", "pandas", "seaborn", "matplotlib", "pennylane", "tqdm", "yaml")
FACE = ("cli.py", "bench.py", "__main__.py")
"""The command line and the benchmark: they may reach into the replication wing (lazily or not)."""

BLOCK = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # Python's own marker of a module that cannot be imported
"""


def run_python(code: str, blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, with ``blocked`` top-level modules made unimportable."""
    prologue = BLOCK.format(blocked=sorted(blocked)) if blocked else ""
    return subprocess.run([sys.executable, "-c", prologue + textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_using_the_layer_loads_no_optional_library_and_not_the_replication_wing():
    result = run_python(
        """
        import sys
        import torch, torch.utils.cpp_extension  # what torch itself loads (it may load tqdm) does not count
        before = set(sys.modules)
        from qpconv import QuantumPointwiseConv2d
        layer = QuantumPointwiseConv2d(16, 6, n_layers=2)
        layer(torch.randn(2, 16, 3, 3)).sum().backward()
        added = set(sys.modules) - before
        heavy = sorted(m for m in added if m.split(".")[0] in OPTIONAL or m.startswith("qpconv.replication"))
        print("loaded:", heavy)
        """.replace("OPTIONAL", repr(OPTIONAL))
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout, result.stdout


def test_no_core_module_imports_the_replication_wing():
    for module in sorted(PACKAGE.glob("*.py")):
        if module.name in FACE:
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert "replication" not in name, f"{module.name} imports {name}: the core must not import the replication wing"


def test_the_readme_example_runs_without_any_extra():
    readme = (PACKAGE.parent / "README.md").read_text()
    example = readme.split("## Use the layer in your own model", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    result = run_python(example, blocked=OPTIONAL)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("code", "blocked", "extra"),
    [
        (
            "from qpconv import QuantumPointwiseConv2d; QuantumPointwiseConv2d(4, 2, backend='pennylane')",
            ("pennylane",),
            "pennylane",
        ),
        ("import qpconv.pennylane_backend", ("pennylane",), "pennylane"),
        ("import qpconv.replication.models", ("torchvision",), "replication"),
        ("import qpconv.replication.plotting", ("seaborn", "pandas"), "replication"),
    ],
)
def test_a_feature_whose_extra_is_missing_names_the_extra(code, blocked, extra):
    result = run_python(code, blocked=blocked)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ") and f"pip install 'qpconv[{extra}]'" in last, last


def test_the_benchmark_runs_without_pennylane_and_says_so():
    result = run_python("from qpconv.bench import main; main(['--quick'])", blocked=("pennylane",))
    assert result.returncode == 0, result.stderr
    assert "PennyLane rows left out: PennyLane is not installed (pip install 'qpconv[pennylane]')" in result.stdout
