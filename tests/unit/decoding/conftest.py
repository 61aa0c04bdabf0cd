"""Lets the search tests import their fake models as ``fake_models`` under any import mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
