"""Pytest plugins that start the real services tests need: Elasticsearch, the fixture web, SMTP."""
