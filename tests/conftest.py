"""Shared pytest set-up: each plugin module starts one real service on loopback, once per session."""

pytest_plugins = ["tests.plugins.es", "tests.plugins.web", "tests.plugins.smtp", "tests.plugins.redis"]
