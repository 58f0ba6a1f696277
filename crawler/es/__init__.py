"""Elasticsearch for narcowatch: managed local node, client, index names, mappings, indexing and search."""
