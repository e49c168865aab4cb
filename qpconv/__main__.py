"""``python -m qpconv``: the ``qpconv`` command line (see :mod:`qpconv.cli`)."""

from .cli import main

raise SystemExit(main())
