#!/usr/bin/env bash
# JupyterLab on the notebooks, with the package importable: what `make lab` runs
# (tests/test_lab.py runs it through `make lab` too).
#
#   bash scripts/lab.sh PYTHON [JupyterLab arguments, e.g. --no-browser --port=8899]
#
# PYTHON is the environment's interpreter (the Makefile passes .venv/bin/python). It
# registers the kernel "Python (qpconv)" for the current user (under $JUPYTER_DATA_DIR
# when set), so that a Jupyter installed elsewhere can run the notebooks too; inside the
# environment the notebooks' kernel "python3" is the environment's own Python. As root
# (uid 0, e.g. in a container) JupyterLab refuses to start without --allow-root, which is
# then added.
set -euo pipefail

python="${1:?usage: scripts/lab.sh PYTHON [JupyterLab arguments]}"
shift
notebooks="$(cd "$(dirname "$0")/.." && pwd)/notebooks"

"$python" -m ipykernel install --user --name qpconv --display-name "Python (qpconv)"
if [ "$(id -u)" -eq 0 ]; then
    set -- --allow-root "$@"
fi
JUPYTER_PREFER_ENV_PATH=1 exec "$python" -m jupyterlab "$@" "$notebooks"
