"""Shared unit-test setup.

Puts the repository root on ``sys.path`` so the top-level packages (``learners``, ...) import
when pytest runs from a checkout without an installed package or a ``pythonpath`` setting.
Harmless once the project config provides either.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
