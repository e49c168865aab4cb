"""The benchmark runs end to end and prints its table (speed is reported, not asserted)."""

from qpconv.bench import main


def test_quick_benchmark_prints_every_row(capsys):
    assert main(["--quick", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for method in (
        "qpconv exact (float32)",
        "qpconv exact (float64)",
        "classical nn.Conv2d 1x1",
        "qpconv exact + gate noise (float32)",
        "qpconv exact, 1000 shots (float32)",
        "PennyLane default.mixed, noisy, broadcast, backprop",
        "PennyLane default.qubit, broadcast, backprop",
        "PennyLane default.qubit, per pixel, parameter-shift",
    ):
        assert out.count(method) == 2, method
    assert "GFLOP/s" in out and "% of peak" in out and "extrapolated" in out and "fused CPU kernels: " in out
    assert "x the noiseless layer" in out and "faster per pixel" in out
