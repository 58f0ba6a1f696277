"""Pytest fixtures for the es service (filled in by its area)."""
