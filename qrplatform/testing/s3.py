"""Test service fixtures: s3 (to be written)."""
