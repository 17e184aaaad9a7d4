"""``python -m probnn``: the command line (see :mod:`probnn.cli`)."""

import sys

from probnn.cli import main

sys.exit(main())
