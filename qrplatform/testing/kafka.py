"""Test service fixtures: kafka (to be written)."""
