"""Small helpers shared across narcowatch: one home each (redaction, time, durations, cron, durable files, results).

Every module here depends only on the standard library (and APScheduler for cron), so any part of the
crawler may import them without pulling in Scrapy, Elasticsearch or spaCy.
"""
