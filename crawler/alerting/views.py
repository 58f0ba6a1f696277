"""What a mail shows of an alert record: its listing copy, the rule's focus and the terms to mark."""

from __future__ import annotations

import re
from typing import Any

from crawler.alerting.render import AlertView
from crawler.alerting.rulestore import RuleStore


class Views:
    """Builds ``AlertView``s for records, with the configured rule's terms and the Kibana links."""

    def __init__(self, store: RuleStore, kibana_url: str | None, kibana_data_view: str) -> None:
        self.store = store
        self.kibana_url = kibana_url
        self.kibana_data_view = kibana_data_view

    def view(self, src: dict[str, Any]) -> AlertView:
        rule = self.store.rule(src["rule"])
        cond = rule.condition if rule is not None else None
        terms = list(cond.substances) + query_words(cond.query) if cond is not None else []
        return AlertView(
            alert_id=src["alert_id"],
            rule=src["rule"],
            reason=src.get("reason") or src.get("event_kind") or "new",
            fingerprint=src["fingerprint"],
            listing=dict(src.get("listing") or {}),
            terms=terms,
            kibana_url=self.kibana_url,
            kibana_data_view=self.kibana_data_view,
            focus_classes=list(cond.substance_classes) if cond is not None else [],
            focus_names=list(cond.substances) if cond is not None else [],
        )


def query_words(query: str | None) -> list[str]:
    """Plain words and quoted phrases of a Lucene query string (for marking them in the excerpt)."""
    if not query:
        return []
    phrases = re.findall(r'"([^"]+)"', query)
    rest = re.sub(r'"[^"]*"', " ", query)
    words = [
        w
        for w in re.findall(r"[\w][\w\-.]*", rest)
        if w.upper() not in ("AND", "OR", "NOT", "TO") and ":" not in w and len(w) > 2
    ]
    # field names before ':' are not terms
    fields = set(re.findall(r"([\w.]+):", rest))
    return phrases + [w for w in words if w not in fields]
