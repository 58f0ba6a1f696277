"""Helpers shared by several test modules (not fixtures: those are in tests/plugins)."""
