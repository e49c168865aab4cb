"""The exact simulation's CPU paths agree: fused kernels (qpconv/cpu_kernels.cpp) and plain PyTorch, chunked or not.

The PennyLane agreement tests check the default path (the fused kernels where they
compile); these tests tie every other path to it, and check the fallback when the
kernels cannot be compiled.
"""

import os
import shutil

import pytest
import torch
import torch.utils.cpp_extension
from torch_threads import torch_threads

import qpconv.cpu_kernels
import qpconv.simulation
from qpconv import QuantumPointwiseConv2d


def values_and_grads(layer: QuantumPointwiseConv2d, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Outputs ``(P, K, n)`` and the gradients of a weighted sum of them w.r.t. the pixels and the weights."""
    out = layer.expectations(pixels)
    weighting = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    return (out.detach(), *torch.autograd.grad((out * weighting).sum(), (pixels, layer.weights)))


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler on this machine")
@pytest.mark.skipif(os.environ.get("QPCONV_CPU_KERNELS") == "0", reason="QPCONV_CPU_KERNELS=0")
def test_cpu_kernels_compile_where_a_compiler_exists():
    kernels = qpconv.cpu_kernels.load()
    assert kernels is not None
    assert hasattr(kernels, "expectations") and hasattr(kernels, "expectations_backward")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    ("in_channels", "out_channels", "n_layers"), [(20, 15, 2), (64, 64, 3), (1, 3, 1), (2, 5, 2), (300, 9, 1)]
)
def test_fused_plain_chunked_and_kept_paths_agree(monkeypatch, dtype, in_channels, out_channels, n_layers):
    torch.manual_seed(0)
    layer = QuantumPointwiseConv2d(in_channels, out_channels, n_layers, dtype=dtype)
    pixels = torch.randn(1000, in_channels, dtype=dtype)
    pixels[3] = 0.0  # an all-zero pixel, as after a ReLU
    pixels.requires_grad_(True)

    reference = values_and_grads(layer, pixels)
    paths = {}
    monkeypatch.setattr(qpconv.simulation, "_CHUNK_BYTES_PER_THREAD", 2048)  # many small (and one ragged) chunks
    paths["fused, small chunks"] = values_and_grads(layer, pixels)
    with torch_threads(1):  # every chunk on the calling thread, whatever the machine
        paths["fused, one thread"] = values_and_grads(layer, pixels)
    monkeypatch.undo()
    monkeypatch.setattr(qpconv.cpu_kernels, "load", lambda: None)
    paths["plain"] = values_and_grads(layer, pixels)
    monkeypatch.setattr(qpconv.simulation, "_CHUNK_BYTES_PER_THREAD", 2048)
    paths["plain, small chunks"] = values_and_grads(layer, pixels)
    monkeypatch.setattr(qpconv.simulation, "_CPU_KEEP_BYTES", 2**30)
    paths["plain, amplitudes kept"] = values_and_grads(layer, pixels)

    tolerance = {"atol": 1e-10, "rtol": 1e-8} if dtype == torch.float64 else {"atol": 1e-3, "rtol": 1e-4}
    for name, result in paths.items():
        for what, a, b in zip(("values", "pixel grads", "weight grads"), reference, result):
            torch.testing.assert_close(b, a, **tolerance, msg=lambda m, name=name, what=what: f"{name}, {what}: {m}")
    assert torch.all(reference[1][3] == 0), "an all-zero pixel gets a zero gradient"


def test_failed_compile_warns_once_and_falls_back_to_plain_pytorch(monkeypatch):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("Error building extension 'qpconv_cpu_kernels': c++: not found")

    monkeypatch.setattr(torch.utils.cpp_extension, "load", no_compiler)
    monkeypatch.setattr(qpconv.cpu_kernels, "_tried", False)
    monkeypatch.setattr(qpconv.cpu_kernels, "_kernels", None)
    with pytest.warns(RuntimeWarning, match=r"fused CPU kernels could not be compiled \(RuntimeError: Error building"):
        assert qpconv.cpu_kernels.load() is None
    assert qpconv.cpu_kernels.load() is None  # no second attempt, no second warning
    layer = QuantumPointwiseConv2d(8, 6, 2)
    out = layer(torch.randn(2, 8, 3, 3))
    assert out.shape == (2, 6, 3, 3) and torch.isfinite(out).all()


def test_environment_variable_disables_the_kernels(monkeypatch):
    monkeypatch.setenv("QPCONV_CPU_KERNELS", "0")
    monkeypatch.setattr(qpconv.cpu_kernels, "_tried", False)
    monkeypatch.setattr(qpconv.cpu_kernels, "_kernels", None)
    assert qpconv.cpu_kernels.load() is None


def test_chunks_fit_the_cache_unless_the_circuit_matrix_does_not_then_they_reuse_it():
    sim = qpconv.simulation
    small = torch.zeros(10, 64)  # 64 -> 64 channels, 6 qubits: [A; B] is 1,408 x 64 floats, 360 KB
    assert sim._pixels_per_chunk(small, 1408, threads=1) == sim._CHUNK_BYTES_PER_THREAD // (1408 * 4)
    assert sim._pixels_per_chunk(small, 1408, threads=2) == 2 * (sim._CHUNK_BYTES_PER_THREAD // (1408 * 4))
    wide = torch.zeros(10, 1024)  # 1024 -> 256 channels, 10 qubits: 53,248 x 1024 floats, 218 MB
    assert sim._pixels_per_chunk(wide, 53248, threads=1) == sim._REUSE_PIXELS
    widest = torch.zeros(10, 4096)  # 12 qubits: a reused chunk would exceed the memory bound
    assert sim._pixels_per_chunk(widest, 843776, threads=1) == max(16, sim._MAX_CHUNK_BYTES_PER_THREAD // (843776 * 4))
