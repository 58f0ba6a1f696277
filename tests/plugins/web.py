"""Pytest fixtures for the web service (filled in by its area)."""
