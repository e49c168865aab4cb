"""The scaling benchmark runs on tiny sizes and fills its table (speed is reported, not asserted)."""

from __future__ import annotations

import ctypes.util
import math
import os
import subprocess
import sys

import pytest

from qpconv.bench import main as bench_main
from qpconv.bench_scaling import (
    QUICK,
    ScalingConfig,
    ScalingRow,
    c_allocator,
    estimated_bytes,
    format_scaling,
    scaling_table,
)

MEASURED = (
    "quantum_us_per_pixel",
    "classical_us_per_pixel",
    "columns_share",
    "quantum_gflops",
    "classical_gflops",
    "quantum_fraction",
    "classical_fraction",
    "model_flops_per_pixel",
)


def test_quick_table_has_one_measured_row_per_grid_point():
    rows, peak = scaling_table(QUICK)
    assert math.isfinite(peak) and peak > 0
    assert [(r.n_qubits, r.n_layers) for r in rows] == [(n, layers) for n in QUICK.qubits for layers in QUICK.layers]
    for row in rows:
        assert (row.in_channels, row.out_channels, row.pixels) == (2**row.n_qubits, max(1, 2**row.n_qubits // 4), 8)
        assert row.skipped == "" and row.peak_gflops == peak
        for field in MEASURED:
            value = getattr(row, field)
            assert math.isfinite(value) and value > 0, (row.n_qubits, row.n_layers, field, value)
        for field in ("quantum_bytes_per_pixel", "classical_bytes_per_pixel"):
            assert math.isfinite(getattr(row, field)) and getattr(row, field) >= 0, field


def test_sizes_beyond_the_memory_limit_are_listed_as_skipped():
    config = ScalingConfig(qubits=(1, 12), layers=(1,), batch=1, height=2, width=2, repeats=1, max_gib=1.0, gemm_size=64)
    rows, _ = scaling_table(config)
    assert rows[0].skipped == ""
    assert rows[1].skipped == f"needs ~{estimated_bytes(12, 1, 4) / 2**30:.0f} GiB (> 1)"
    assert math.isnan(rows[1].quantum_us_per_pixel) and rows[1].n_circuits == 86


def test_qpconv_bench_scaling_dispatches_and_prints_the_table(capsys):
    assert bench_main(["--scaling", "--quick", "--qubits", "2", "--layers", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert " 2  1        4->1    1 " in out and "measured float32 GEMM peak" in out


def test_the_scaling_footer_says_whether_pytorch_asked_for_huge_pages(monkeypatch):
    row = ScalingRow(1, 1, 2, 1, 1, 4)
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    assert "THP_MEM_ALLOC_ENABLE=unset" in format_scaling([row], 1.0)
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")
    assert "THP_MEM_ALLOC_ENABLE=1" in format_scaling([row], 1.0)


def test_the_scaling_footer_names_the_c_allocator(monkeypatch):
    monkeypatch.setattr("qpconv.bench_scaling.c_allocator", lambda: "tcmalloc")
    assert "; allocator tcmalloc; THP_MEM_ALLOC_ENABLE=" in format_scaling([ScalingRow(1, 1, 2, 1, 1, 4)], 1.0)


@pytest.mark.parametrize(
    ("library", "allocator"),
    [
        ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.10", "tcmalloc"),
        ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "jemalloc"),
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", "glibc"),
    ],
)
def test_the_c_allocator_is_read_from_the_libraries_mapped(library, allocator):
    maps = f"7f0000000000-7f0000001000 r-xp 00000000 fe:01 123 {library}\n"
    assert c_allocator(maps) == allocator


@pytest.mark.skipif(ctypes.util.find_library("tcmalloc_minimal") is None, reason="tcmalloc is not installed")
def test_a_preloaded_tcmalloc_is_named_and_asked_for_its_free_memory():
    code = (
        "import ctypes; from qpconv import bench_scaling as b; "
        "assert ctypes.CDLL(None).MallocExtension_ReleaseFreeMemory; b._release_free_memory(); print(b.c_allocator())"
    )
    env = {**os.environ, "LD_PRELOAD": ctypes.util.find_library("tcmalloc_minimal")}  # a soname: found as the loader finds it
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "tcmalloc"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--qubits", "0"], "qubit counts must be integers in 1..14, got [0]"),
        (["--layers", "0"], "n_layers must be a positive integer, got 0"),
        (["--batch", "0"], "batch must be a positive integer, got 0"),
        (["--max-gib", "0"], "max_gib must be positive, got 0.0"),
    ],
)
def test_bad_options_are_refused_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--scaling", "--quick", *argv])
    assert exit_info.value.code == 2 and capsys.readouterr().err.strip().endswith(message)


def test_scaling_table_refuses_an_empty_grid():
    with pytest.raises(ValueError, match=r"^the grid is empty: give at least one qubit count and one layer count$"):
        scaling_table(ScalingConfig(qubits=()))


def test_qpconv_bench_help_names_the_scaling_mode(capsys):
    with pytest.raises(SystemExit):
        bench_main(["--help"])
    assert "qpconv bench --scaling --help" in capsys.readouterr().out
