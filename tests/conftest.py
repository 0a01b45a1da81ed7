"""Settings shared by every test: in CI, property tests replay a fixed set of examples.

Hypothesis explores new examples on every local run (and keeps failures in .hypothesis/);
with ``CI`` set (as `.ci/run` is run), examples are derandomized so a submission's verdict does
not depend on the draw.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
