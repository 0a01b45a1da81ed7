"""``python -m adstream``: the ``adstream`` command."""

import sys

from adstream.cli import main

sys.exit(main())
