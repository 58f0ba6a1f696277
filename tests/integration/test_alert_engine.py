"""Alert engine against the real Elasticsearch node and a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from crawler.alerting.engine import FAILED, PENDING, SENT, AlertEngine, alert_id
from crawler.alerting.mailer import Mailer
from crawler.alerting.rules import AlertsConfig, Rule
from crawler.es.names import IndexNames
from crawler.events import ListingEvent

pytestmark = [pytest.mark.elasticsearch, pytest.mark.smtp]

T0 = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


class Clock:
    """A clock tests move forward instead of sleeping."""

    def __init__(self, now: dt.datetime = T0):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


def make_listing(fp: str, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "fingerprint": fp,
        "title": "Fentanyl HCl 99% powder 10g",
        "description": "Pure fentanyl HCl, 10 g, stealth vacuum sealed. Contact telegram @chemlab_x. "
        "Ships from China to USA and EU.",
        "url": f"http://127.0.0.1:9/market/listing/{fp}",
        "source": "demo-market",
        "platform": "demo-market",
        "substance_names": ["fentanyl"],
        "substance_classes": ["fentanyl"],
        "cas": ["437-38-7"],
        "vendor": "chemlab_x",
        "vendor_handles": ["chemlab_x"],
        "vendor_contacts": [{"kind": "telegram", "value": "@chemlab_x"}],
        "ships_from": ["CN"],
        "ships_to": ["US", "EU"],
        "ships_not_to": [],
        "price": 450.0,
        "currency": "USD",
        "intent": "sale",
        "risk": 0.92,
        "response_sha256": "ab" * 32,
        "evidence": {"response_sha256": "ab" * 32},
        "first_seen": "2026-11-24T11:00:00Z",
        "last_seen": "2026-11-24T11:00:00Z",
    }
    doc.update(over)
    return doc


def event(fp: str, kind: str = "new", content_hash: str = "h1", **kw: Any) -> ListingEvent:
    return ListingEvent(fingerprint=fp, kind=kind, content_hash=content_hash, source="demo-market", **kw)  # type: ignore[arg-type]


@pytest.fixture
def names(es_client: Elasticsearch, index_prefix: str) -> IndexNames:
    """A private installation of the indices alerting uses, by the Elasticsearch part's installer."""
    from crawler.es.templates import install

    names = IndexNames(index_prefix)
    install(es_client, names, kinds=["listings", "alerts", "rules"])
    return names


@pytest.fixture
def index_listings(es_client: Elasticsearch, names: IndexNames) -> Callable[..., None]:
    def index(*docs: dict[str, Any]) -> None:
        ops: list[dict[str, Any]] = []
        for d in docs:
            ops += [{"index": {"_index": names.listings, "_id": d["fingerprint"]}}, d]
        res = es_client.bulk(operations=ops, refresh=True)
        assert not res["errors"], res["items"]

    return index


FENTANYL = Rule.model_validate(
    {
        "name": "fentanyl-new",
        "condition": {"substance_classes": ["fentanyl"]},
        "recipients": ["a1@example.org", "a2@example.org"],
        "events": ["new", "relisting"],
    }
)
FENTANYL_PRICES = Rule.model_validate(
    {
        "name": "fentanyl-prices",
        "condition": {"substance_classes": ["fentanyl"], "ships_from": ["CN"]},
        "recipients": ["prices@example.org"],
        "events": ["new", "price_change"],
    }
)


@pytest.fixture
def make_engine(es_client: Elasticsearch, names: IndexNames, smtp_sink: Any) -> Callable[..., AlertEngine]:
    def make(*rules: Rule, clock: Clock | None = None, **kw: Any) -> AlertEngine:
        config = AlertsConfig(
            rules=list(rules or (FENTANYL, FENTANYL_PRICES)),
            kibana_url="http://kibana.example.org:5601",
            delivery={"retry_base": "1s", "retry_max": "10s", "max_attempts": 5},
        )
        return AlertEngine(
            es_client, names, config, Mailer(smtp_sink.url, sender="nw@example.org"), clock=clock or Clock(), **kw
        )

    return make


def aid(mail: Any) -> str:
    """The alert id a mail carries (X-Narcowatch-Alert, unfolded)."""
    return str(mail.message["X-Narcowatch-Alert"]).strip()


def records(es_client: Elasticsearch, names: IndexNames) -> list[dict[str, Any]]:
    es_client.indices.refresh(index=names.alerts)
    res = es_client.search(index=names.alerts, size=100, query={"match_all": {}})
    return [h["_source"] for h in res["hits"]["hits"]]


def test_new_fentanyl_listing_mails_once_then_never_again(make_engine, index_listings, smtp_sink, es_client, names):
    index_listings(make_listing("fp-1"))
    engine = make_engine(FENTANYL)
    result = engine.on_batch([event("fp-1")])
    assert (result.matched, result.created, result.duplicates) == (1, 1, 0)
    assert result.delivery is not None and result.delivery.sent == 1
    [mail] = smtp_sink.messages()
    assert set(mail.rcpt_tos) == {"a1@example.org", "a2@example.org"}
    assert "fentanyl" in mail.subject and "demo-market" in mail.subject and "CN" in mail.subject
    assert "<mark>fentanyl</mark>" in mail.html.lower() or "<mark>Fentanyl</mark>" in mail.html
    assert "ab" * 32 in mail.text and "450" in mail.text and "@chemlab_x" in mail.text
    assert "kibana.example.org:5601/app/discover" in mail.html
    [rec] = records(es_client, names)
    assert rec["state"] == SENT and rec["attempts"] == 1
    assert sorted(rec["delivered_to"]) == ["a1@example.org", "a2@example.org"]

    # The same batch again (a re-crawl, a restarted process, a new engine): nothing new, no mail.
    again = make_engine(FENTANYL).on_batch([event("fp-1")])
    assert (again.matched, again.created, again.duplicates) == (1, 0, 1)
    assert len(smtp_sink.messages()) == 1
    assert len(records(es_client, names)) == 1


def test_price_change_only_for_rules_that_ask(make_engine, index_listings, smtp_sink):
    index_listings(make_listing("fp-2"))
    engine = make_engine()
    first = engine.on_batch([event("fp-2")])
    assert first.by_rule == {"fentanyl-new": 1, "fentanyl-prices": 1}
    assert len(smtp_sink.messages()) == 2
    index_listings(make_listing("fp-2", price=390.0))
    second = engine.on_batch([event("fp-2", "price_change", "h2")])
    assert second.by_rule == {"fentanyl-prices": 1}
    msgs = smtp_sink.messages()
    assert len(msgs) == 3
    assert msgs[-1].rcpt_tos == ("prices@example.org",)
    assert msgs[-1].subject.startswith("[narcowatch] Price change:")
    # unchanged events never alert
    assert engine.on_batch([event("fp-2", "unchanged", "h2")]).rules_run == 0


def test_decoys_yield_no_alert(make_engine, index_listings, smtp_sink, es_client, names):
    index_listings(
        make_listing("news-1", intent="other", title="Police seize 10 kg of fentanyl"),
        make_listing("hr-1", intent="other", title="Fentanyl test strips save lives", risk=0.05),
        make_listing("none-1", substance_names=[], substance_classes=[], title="Vacuum sealer for sale"),
    )
    result = make_engine().on_batch([event("news-1"), event("hr-1"), event("none-1")])
    assert result.rules_run == 2 and result.matched == 0 and result.created == 0
    assert smtp_sink.messages() == []
    assert records(es_client, names) == []


def test_conditions_ships_to_worldwide_and_exclusions(make_engine, index_listings, smtp_sink):
    rule = Rule.model_validate(
        {"name": "to-au", "condition": {"substances": ["fentanyl"], "ships_to": ["AU"]}, "recipients": ["au@x.org"]}
    )
    index_listings(
        make_listing("ww", ships_to=["WORLDWIDE"]),
        make_listing("ww-not-au", ships_to=["WORLDWIDE"], ships_not_to=["AU"]),
        make_listing("us-only", ships_to=["US"]),
        make_listing("au", ships_to=["AU"]),
    )
    result = make_engine(rule).on_batch([event(f) for f in ("ww", "ww-not-au", "us-only", "au")])
    assert result.created == 2
    assert {aid(m) for m in smtp_sink.messages()} == {
        alert_id("to-au", "ww", "new", "h1"),
        alert_id("to-au", "au", "new", "h1"),
    }


def test_script_title_and_img_onerror_arrive_escaped(make_engine, index_listings, smtp_sink):
    index_listings(
        make_listing(
            "xss",
            title="<script>alert(1)</script> fentanyl",
            description='fentanyl 99% <img src=x onerror="alert(2)"> contact us',
            url="javascript:alert(3)",
            vendor="<b>v</b>",
            vendor_contacts=[{"kind": "telegram", "value": "<svg onload=x>"}],
        )
    )
    make_engine(FENTANYL).on_batch([event("xss")])
    [mail] = smtp_sink.messages()
    html = mail.html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=" in html
    assert "<svg" not in html and "<b>v</b>" not in html
    assert 'href="javascript:' not in html
    assert "\n" not in mail.subject


def test_smtp_outage_alerts_wait_and_arrive_once(make_engine, index_listings, smtp_sink, es_client, names):
    clock = Clock()
    engine = make_engine(FENTANYL, clock=clock)
    index_listings(make_listing("o-1"), make_listing("o-2"))
    smtp_sink.stop()  # the mail server is down for the first "two minutes"
    result = engine.on_batch([event("o-1"), event("o-2")])
    assert result.created == 2 and result.delivery is not None and result.delivery.retry == 2
    assert {r["state"] for r in records(es_client, names)} == {PENDING}
    # Retries while down: backoff 1s, 2s, 4s ... the attempts are recorded, nothing is lost.
    for _ in range(2):
        clock.advance(seconds=30)
        assert engine.deliver_pending().retry == 2
    assert engine.deliver_pending().retry == 0  # not due yet: backoff
    clock.advance(minutes=2)
    smtp_sink.start()
    index_listings(make_listing("o-3"))
    after = engine.on_batch([event("o-3")])
    assert after.delivery is not None and after.delivery.sent == 3
    assert engine.deliver_pending().sent == 0
    msgs = smtp_sink.messages()
    assert sorted(aid(m) for m in msgs) == sorted(
        alert_id("fentanyl-new", fp, "new", "h1") for fp in ("o-1", "o-2", "o-3")
    )
    recs = records(es_client, names)
    assert {r["state"] for r in recs} == {SENT}
    assert sorted(r["attempts"] for r in recs) == [1, 4, 4]  # three failed tries while down, then the one that worked


def test_permanent_refusal_is_recorded_and_not_retried(make_engine, index_listings, smtp_sink, es_client, names):
    clock = Clock()
    smtp_sink.reject("a2@example.org")
    engine = make_engine(FENTANYL, clock=clock)
    index_listings(make_listing("p-1"))
    engine.on_batch([event("p-1")])
    [mail] = smtp_sink.messages()
    assert mail.rcpt_tos == ("a1@example.org",)
    [rec] = records(es_client, names)
    assert rec["state"] == SENT
    assert rec["rejected"][0]["address"] == "a2@example.org" and rec["rejected"][0]["reply"].startswith("550")
    clock.advance(hours=1)
    assert engine.deliver_pending().sent == 0
    # every recipient refused: failed, not retried
    only = Rule.model_validate({"name": "dead", "condition": {}, "recipients": ["gone@example.org"]})
    smtp_sink.reject("gone@example.org")
    engine2 = make_engine(only, clock=clock)
    out = engine2.on_batch([event("p-1")])
    assert out.delivery is not None and out.delivery.failed == 1
    clock.advance(hours=5)
    assert engine2.deliver_pending().failed == 0
    dead = [r for r in records(es_client, names) if r["rule"] == "dead"]
    assert dead[0]["state"] == FAILED and dead[0]["attempts"] == 1


def test_temporary_refusal_retries_only_that_recipient(make_engine, index_listings, smtp_sink, es_client, names):
    clock = Clock()
    smtp_sink.defer("a2@example.org")
    engine = make_engine(FENTANYL, clock=clock)
    index_listings(make_listing("t-1"))
    engine.on_batch([event("t-1")])
    assert [m.rcpt_tos for m in smtp_sink.messages()] == [("a1@example.org",)]
    [rec] = records(es_client, names)
    assert rec["state"] == PENDING and rec["delivered_to"] == ["a1@example.org"]
    smtp_sink.sink.defer.clear()
    clock.advance(seconds=5)
    assert engine.deliver_pending().sent == 1
    assert [m.rcpt_tos for m in smtp_sink.messages()] == [("a1@example.org",), ("a2@example.org",)]


def test_two_engines_in_two_threads_send_one_mail(make_engine, index_listings, smtp_sink, es_client, names):
    index_listings(*(make_listing(f"c-{i}") for i in range(5)))
    batch = [event(f"c-{i}") for i in range(5)]
    engines = [make_engine(FENTANYL, owner=f"proc-{i}") for i in range(2)]
    barrier = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(engine: AlertEngine) -> None:
        try:
            barrier.wait()
            results.append(engine.on_batch(batch))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "an engine thread did not finish within 60 s"
    assert not errors
    assert sum(r.created for r in results) == 5
    assert sum(r.delivery.sent for r in results) == 5
    ids = [aid(m) for m in smtp_sink.messages()]
    assert len(ids) == 5 and len(set(ids)) == 5


def test_throttle_holds_back_then_sends(make_engine, index_listings, smtp_sink):
    clock = Clock()
    rule = Rule.model_validate(
        {
            "name": "throttled",
            "condition": {"substance_classes": ["fentanyl"]},
            "recipients": ["t@example.org"],
            "throttle": {"max": 2, "per": "1h"},
        }
    )
    engine = make_engine(rule, clock=clock)
    index_listings(*(make_listing(f"th-{i}") for i in range(3)))
    out = engine.on_batch([event(f"th-{i}") for i in range(3)])
    assert out.delivery is not None and (out.delivery.sent, out.delivery.throttled) == (2, 1)
    clock.advance(minutes=30)
    assert engine.deliver_pending().sent == 0
    clock.advance(minutes=31)
    assert engine.deliver_pending().sent == 1
    assert len(smtp_sink.messages()) == 3


def test_digest_groups_by_rule_and_substance_and_sends_once(make_engine, index_listings, smtp_sink, es_client, names):
    rule = Rule.model_validate(
        {
            "name": "daily-opioids",
            "condition": {"substance_classes": ["opioid", "fentanyl"]},
            "recipients": ["digest@example.org"],
            "mode": "digest",
            "period": "daily",
        }
    )
    engine = make_engine(rule)
    index_listings(
        make_listing("d-1"),
        make_listing("d-2", title="Oxycodone 30mg x100", substance_names=["oxycodone"], substance_classes=["opioid"]),
        make_listing("d-3", title="Carfentanil 1g", substance_names=["carfentanil"]),
    )
    out = engine.on_batch([event("d-1"), event("d-2"), event("d-3")])
    assert out.created == 3 and smtp_sink.messages() == []
    sent = engine.send_digests(period="daily")
    assert (sent.sent, sent.mails) == (3, 1)
    [mail] = smtp_sink.messages()
    assert mail.rcpt_tos == ("digest@example.org",)
    assert "Digest: 3 alerts" in mail.subject
    for name in ("carfentanil", "fentanyl", "oxycodone"):
        assert f"<h3>{name} (1)</h3>" in mail.html
    assert "Rule daily-opioids (3)" in mail.text
    assert engine.send_digests().mails == 0
    assert {r["state"] for r in records(es_client, names)} == {SENT}


def test_rules_stored_with_version(make_engine, es_client, names):
    engine = make_engine()
    es_client.indices.refresh(index=names.rules)
    stored = {h["_id"]: h["_source"] for h in es_client.search(index=names.rules)["hits"]["hits"]}
    assert set(stored) == {"fentanyl-new", "fentanyl-prices"}
    assert stored["fentanyl-new"]["version"] == FENTANYL.version
    assert stored["fentanyl-new"]["query"]["bool"]["filter"][0] == {"terms": {"substance_classes": ["fentanyl"]}}
    assert engine.sync_rules() == {"fentanyl-new": "unchanged", "fentanyl-prices": "unchanged"}
    changed = FENTANYL.model_copy(update={"recipients": ["other@example.org"]})
    assert changed.version != FENTANYL.version
    assert make_engine(changed).sync_rules() == {"fentanyl-new": "unchanged"}
    es_client.indices.refresh(index=names.rules)
    stored = {h["_id"]: h["_source"] for h in es_client.search(index=names.rules)["hits"]["hits"]}
    assert stored["fentanyl-new"]["version"] == changed.version
    assert stored["fentanyl-prices"]["removed"] is True


def test_dry_run_lists_existing_matches_without_mail(make_engine, index_listings, smtp_sink, es_client, names):
    index_listings(make_listing("x-1"), make_listing("x-2", intent="other"), make_listing("x-3", ships_from=["IN"]))
    engine = make_engine()
    total, hits = engine.dry_run("fentanyl-prices")
    assert total == 1 and hits[0]["_id"] == "x-1"
    assert engine.dry_run("fentanyl-new")[0] == 2
    assert smtp_sink.messages() == [] and records(es_client, names) == []
    assert engine.validate_rules() == {"fentanyl-new": None, "fentanyl-prices": None}


def test_vendor_on_new_platform_counts_for_rules_that_ask(make_engine, index_listings, smtp_sink):
    rule = Rule.model_validate(
        {"name": "vendors", "condition": {}, "recipients": ["v@example.org"], "events": ["new_vendor_platform"]}
    )
    index_listings(make_listing("vp-1"), make_listing("vp-2"))
    engine = make_engine(rule, FENTANYL_PRICES)
    out = engine.on_batch([event("vp-1", "changed", vendor_new_platform=True), event("vp-2", "changed")])
    assert out.by_rule == {"vendors": 1}
    [mail] = smtp_sink.messages()
    assert mail.subject.startswith("[narcowatch] Vendor on a new platform:")
    assert aid(mail) == alert_id("vendors", "vp-1", "changed", "h1")


def test_crashed_sender_lease_expires_and_alert_is_sent(make_engine, index_listings, smtp_sink, es_client, names):
    clock = Clock()
    engine = make_engine(FENTANYL, clock=clock)
    index_listings(make_listing("l-1"))
    engine.on_batch([event("l-1")], deliver=False)
    # A process claims the alert and dies before sending: the record stays in "sending".
    es_client.indices.refresh(index=names.alerts)
    [hit] = es_client.search(index=names.alerts, seq_no_primary_term=True)["hits"]["hits"]
    assert engine.claim(hit) is not None
    assert engine.deliver_pending().sent == 0  # the lease still holds
    clock.advance(minutes=6)
    assert engine.deliver_pending().sent == 1
    assert len(smtp_sink.messages()) == 1
    [rec] = records(es_client, names)
    assert rec["state"] == SENT and rec["attempts"] == 2


def test_without_smtp_url_alerts_wait(make_engine, es_client, names, index_listings, smtp_sink, monkeypatch):
    monkeypatch.delenv("NARCOWATCH_SMTP_URL")
    config = AlertsConfig(rules=[FENTANYL])
    engine = AlertEngine(es_client, names, config, None, clock=Clock())
    index_listings(make_listing("n-1"))
    out = engine.on_batch([event("n-1")])
    assert out.created == 1 and out.delivery is not None and out.delivery.sent == 0
    assert "NARCOWATCH_SMTP_URL is not set" in out.delivery.errors[0]
    assert [r["state"] for r in records(es_client, names)] == [PENDING]
    monkeypatch.setenv("NARCOWATCH_SMTP_URL", smtp_sink.url)
    assert AlertEngine(es_client, names, config, None, clock=Clock()).deliver_pending().sent == 1


def test_setup_installs_alert_indices_and_rejects_bad_query(es_client, index_prefix, smtp_sink):
    names = IndexNames(index_prefix)
    bad = Rule.model_validate({"name": "bad", "condition": {"query": "title:(unclosed"}, "recipients": ["b@x.org"]})
    engine = AlertEngine(es_client, names, AlertsConfig(rules=[bad]), Mailer(smtp_sink.url))
    assert es_client.indices.exists_alias(name=names.alerts)
    assert es_client.indices.exists_alias(name=names.rules)
    from crawler.es.templates import install

    install(es_client, names, kinds=["listings"])
    error = engine.validate_rules()["bad"]
    assert error is not None and "Failed to parse query [title:(unclosed]" in error
    out = engine.on_batch([event("zz")])
    assert out.created == 0 and out.errors[0].startswith("rule 'bad': query failed in Elasticsearch")


def test_delivery_works_in_passes(make_engine, index_listings, smtp_sink):
    index_listings(*(make_listing(f"ps-{i}") for i in range(5)))
    engine = make_engine(FENTANYL, deliver_after_batch=False)
    assert engine.on_batch([event(f"ps-{i}") for i in range(5)]).created == 5
    out = engine.deliver_pending(limit=2)
    assert (out.sent, out.skipped) == (5, 0)
    assert len(smtp_sink.messages()) == 5


def test_recipients_come_from_the_configured_rule_never_from_the_record(
    make_engine, index_listings, smtp_sink, es_client, names
):
    """Whoever can write to the alerts index must not be able to make our SMTP account mail any address."""
    index_listings(make_listing("rc-1"), make_listing("rc-2"))
    engine = make_engine(FENTANYL)
    assert engine.on_batch([event("rc-1"), event("rc-2")], deliver=False).created == 2
    es_client.indices.refresh(index=names.alerts)
    hits = es_client.search(index=names.alerts, query={"match_all": {}})["hits"]["hits"]
    tampered, untouched = sorted(hits, key=lambda h: h["_source"]["fingerprint"])
    # An existing record rewritten to another address, and a forged record for a configured rule.
    es_client.update(index=names.alerts, id=tampered["_id"], doc={"recipients": ["thief@evil.example"]})
    forged = dict(untouched["_source"], alert_id="f" * 64, recipients=["forger@evil.example"])
    es_client.index(index=names.alerts, id="f" * 64, document=forged, refresh=True)
    out = engine.deliver_pending()
    assert out.sent == 3, out
    mails = smtp_sink.messages()
    assert len(mails) == 3
    for mail in mails:
        assert set(mail.rcpt_tos) == {"a1@example.org", "a2@example.org"}, (aid(mail), mail.rcpt_tos)
        assert "evil.example" not in str(mail.message["To"])
    # An alert of a rule that is no longer configured is not mailed to the addresses its record names.
    other = make_engine(FENTANYL_PRICES)
    es_client.index(
        index=names.alerts,
        id="e" * 64,
        document=dict(untouched["_source"], alert_id="e" * 64, recipients=["thief@evil.example"]),
        refresh=True,
    )
    assert other.deliver_pending().failed == 1
    assert len(smtp_sink.messages()) == 3
