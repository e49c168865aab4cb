"""``python -m qpconv``: the ``qpconv`` command line (see :mod:`qpconv.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
