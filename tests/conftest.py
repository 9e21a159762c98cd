"""The core's fixtures come from qrplatform.testing.pytest_plugin (a pytest11 entry point)."""

import sys
from pathlib import Path

import pytest

# tests/ holds helper packages (fake_plugins) that tests import by name.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _forget_forecasts(request):
    """The session's app keeps this hour's forecasts in its process (no REDIS_URL), keyed by
    workspace and code ids, which restart after each test's cleanup: a later test's code 1 must
    not read an earlier test's forecast of its code 1."""
    yield
    if "app" in request.fixturenames:
        from qrp_analytics.services import FORECASTS_EXTENSION

        request.getfixturevalue("app").extensions.pop(FORECASTS_EXTENSION, None)
