"""narcowatch crawler package: settings, items, pipelines, indexing, alerting, scheduling and the CLI."""

__version__ = "0.1.0"
