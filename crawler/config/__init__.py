"""Configuration loading: YAML files validated by pydantic, errors reported with file, line and field."""

from crawler.config.loader import ConfigError, ConfigIssue, load_yaml_model, load_yaml_with_lines

__all__ = ["ConfigError", "ConfigIssue", "load_yaml_model", "load_yaml_with_lines"]
