"""Alert rules evaluated in Elasticsearch on each indexed batch, delivered by email exactly once."""
