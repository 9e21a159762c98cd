"""Test support shared with third-party plugins: fixtures (pytest_plugin) and real services."""
