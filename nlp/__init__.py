"""spaCy-based extraction of substances, vendors, shipping, intent and risk from listing text."""
