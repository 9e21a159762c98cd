"""Test service fixtures: capture (to be written)."""
