"""Pytest fixtures for the smtp service (filled in by its area)."""
