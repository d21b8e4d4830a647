"""Lets the tests here import ``rollout_sim``, the simulated cluster they share."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
