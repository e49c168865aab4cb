#!/usr/bin/env python
"""``make book``: execute the notebooks and build the HTML book (see :mod:`qpconv.replication.book`)."""

import sys

from qpconv.replication.book import main

sys.exit(main())
