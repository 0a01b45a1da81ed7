"""``python -m streams.cli worker``: the system's commands without the demo and bench."""

import sys

from streams.cli import main

sys.exit(main())
