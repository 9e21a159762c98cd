"""The core's fixtures come from qrplatform.testing.pytest_plugin (a pytest11 entry point)."""

import sys
from pathlib import Path

# tests/ holds helper packages (fake_plugins) that tests import by name.
sys.path.insert(0, str(Path(__file__).parent))
