"""``make lab`` starts JupyterLab on the notebooks, with the qpconv kernel, as root or not.

The test runs the Makefile's own ``lab`` recipe (``scripts/lab.sh``) with this test's
Python as the environment (``PY=``, the venv prerequisite skipped with ``-o``) and
``LAB_ARGS`` for a headless server on a free local port with a random token. Jupyter's
data, config and runtime folders are temporary, so the kernel it registers "for the
user" lands there. It polls the REST API until the server answers, checks the kernels
and the folder it serves, and stops the server's whole process group (terminate, then
kill after a timeout). As root this exercises ``--allow-root``, which JupyterLab needs there.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from qpconv.replication.book import ROOT

pytest.importorskip("jupyterlab")

STARTUP_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, token: str) -> dict | None:
    """The JSON answer of ``url``, or None while the server does not answer yet."""
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _stop(server: subprocess.Popen) -> None:
    """Terminate the server's process group (make, bash, JupyterLab); kill it if it lingers."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


@pytest.mark.slow
def test_make_lab_serves_the_notebooks_with_the_qpconv_kernel(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    lab_args = f"--no-browser --ip=127.0.0.1 --port={port} --port-retries=0 --IdentityProvider.token={token}"
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "lab", f"PY={sys.executable}", f"LAB_ARGS={lab_args}"]
    log = tmp_path / "lab.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        status = None
        while status is None and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            status = _get(f"{base}/status", token)
        assert status is not None, f"JupyterLab did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}"
        kernels = _get(f"{base}/kernelspecs", token)
        assert kernels is not None
        assert "python3" in kernels["kernelspecs"], kernels
        qpconv_kernel = kernels["kernelspecs"]["qpconv"]["spec"]
        assert qpconv_kernel["display_name"] == "Python (qpconv)"
        assert qpconv_kernel["argv"][0] == sys.executable, "the qpconv kernel must run the environment's Python"
        served = _get(f"{base}/contents", token)
        assert served is not None
        notebooks = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
        assert {entry["name"] for entry in served["content"] if entry["type"] == "notebook"} == notebooks, (
            "it must serve notebooks/"
        )
    finally:
        _stop(server)
    assert (tmp_path / "data" / "kernels" / "qpconv" / "kernel.json").is_file()
