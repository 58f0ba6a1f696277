"""Scrapy spiders: one generic spider per source kind, driven by the YAML source configuration."""
