"""What compiled rule queries match, evaluated on documents (tests/support/esquery.py), not their JSON shape.

The real node runs the same rules and documents in tests/integration/test_alert_rules_es.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.alerting.query import EU_MEMBERS, compile_condition, compile_rule, restrict_to_ids
from crawler.alerting.rules import Condition, load_alerts_config
from crawler.paths import ROOT
from tests.support.esquery import Unsupported, matches
from tests.support.examples import examples

COUNTRIES = sorted(EU_MEMBERS | {"US", "CA", "GB", "AU", "CN", "IN", "MX", "RU", "CH", "NO"})


def doc(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"substance_classes": ["opioid"], "substance_names": ["oxycodone"], "intent": "sale",
                            "risk": 0.5, "ships_from": ["CN"], "ships_to": [], "ships_not_to": [],
                            "platform": "p", "source": "s"}
    base.update(over)
    return base


def shipped_rule(name: str) -> Any:
    config = load_alerts_config(ROOT / "config" / "alerts.yaml")
    return next(r for r in config.rules if r.name == name)


def test_shipped_two_country_rule_matches_either_country_alone() -> None:
    """config/alerts.yaml's opioids-daily: ships_to [US, EU] is US OR EU, never both at once."""
    rule = shipped_rule("opioids-daily")
    assert rule.condition.ships_to == ["US", "EU"]
    query = compile_rule(rule)
    assert matches(query, doc(ships_to=["US"]))
    assert matches(query, doc(ships_to=["EU"]))
    assert matches(query, doc(ships_to=["US", "EU"]))
    assert matches(query, doc(ships_to=["WORLDWIDE"]))
    assert not matches(query, doc(ships_to=["CA"]))
    assert matches(query, doc(ships_to=["FR"]))  # a member state is in the EU
    # a worldwide shipper who excludes the US still ships to the EU; one who excludes both matches neither
    assert matches(query, doc(ships_to=["WORLDWIDE"], ships_not_to=["US"]))
    assert not matches(query, doc(ships_to=["WORLDWIDE"], ships_not_to=["US", "EU"]))
    assert not matches(query, doc(ships_to=["US"], substance_classes=["precursor"]))


@pytest.mark.parametrize(("ships_to", "ships_not_to", "expected"), [
    (["FR"], [], True),
    (["EU"], [], True),
    (["WORLDWIDE"], [], True),
    (["EU"], ["FR"], False),
    (["WORLDWIDE"], ["FR"], False),
    (["FR"], ["FR"], True),  # named explicitly wins (the NLP never outputs both)
    (["US"], [], False),
    ([], [], False),
])
def test_one_eu_country_is_named_or_covered_and_not_excluded(ships_to: list[str], ships_not_to: list[str],
                                                            expected: bool) -> None:
    query = compile_condition(Condition(ships_to=["FR"]))
    assert matches(query, doc(ships_to=ships_to, ships_not_to=ships_not_to)) is expected


@pytest.mark.parametrize(("ships_to", "ships_not_to", "expected"), [
    (["EU"], [], True),
    (["FR"], [], True),
    (["DE", "US"], [], True),
    (["WORLDWIDE"], [], True),
    (["WORLDWIDE"], ["FR"], True),  # one member excluded: the rest of the Union is still served
    (["WORLDWIDE"], ["EU"], False),
    (["GB"], [], False),  # not a member state
    (["CH", "NO"], [], False),
    ([], [], False),
])
def test_a_rule_for_the_eu_matches_any_member_state(ships_to: list[str], ships_not_to: list[str],
                                                    expected: bool) -> None:
    query = compile_condition(Condition(ships_to=["EU"]))
    assert matches(query, doc(ships_to=ships_to, ships_not_to=ships_not_to)) is expected


@pytest.mark.parametrize(("ships_from", "expected"), [
    (["EU"], True), (["NL"], True), (["CN", "DE"], True), (["GB"], False), (["CN"], False), ([], False),
])
def test_a_rule_shipping_from_the_eu_matches_any_member_state(ships_from: list[str], expected: bool) -> None:
    query = compile_condition(Condition(ships_from=["EU"]))
    assert matches(query, doc(ships_from=ships_from)) is expected


def test_every_filter_of_a_condition_is_required() -> None:
    cond = Condition.model_validate({"substance_classes": ["fentanyl", "precursor"], "substances": ["carfentanil"],
                                     "ships_from": ["CN", "IN"], "platforms": ["telegram"], "sources": ["tg"],
                                     "min_risk": 0.5})
    query = compile_condition(cond)
    good = doc(substance_classes=["fentanyl"], ships_from=["IN"], platform="telegram", source="tg", risk=0.5)
    assert matches(query, good)
    assert matches(query, {**good, "substance_classes": ["opioid"], "substance_names": ["carfentanil"]})
    for field, value in [("substance_classes", ["opioid"]), ("ships_from", ["NL"]), ("platform", "reddit"),
                         ("source", "other"), ("risk", 0.49), ("intent", "other")]:
        assert not matches(query, {**good, field: value}), field


def test_restrict_to_ids_keeps_only_the_batch() -> None:
    query = restrict_to_ids(compile_condition(Condition(intent="any")), ["a", "b"])
    assert matches(query, doc(), "a") and not matches(query, doc(), "c")


def test_evaluator_refuses_what_it_does_not_know() -> None:
    with pytest.raises(Unsupported):
        matches({"query_string": {"query": "x"}}, doc())


@settings(max_examples=examples(150), deadline=None)
@given(data=st.data(), rule_countries=st.lists(st.sampled_from([*COUNTRIES, "EU", "WORLDWIDE"]), min_size=1,
                                               max_size=6, unique=True))
def test_rule_with_n_countries_matches_a_listing_shipping_to_any_one(data: st.DataObject,
                                                                    rule_countries: list[str]) -> None:
    query = compile_condition(Condition(ships_to=rule_countries, intent="any"))
    one = data.draw(st.sampled_from(rule_countries), label="the listing ships to")
    assert matches(query, doc(ships_to=[one]))
    # and a listing shipping only to a country the rule does not name (nor cover) does not match
    others = [c for c in COUNTRIES if c not in rule_countries
              and not ("EU" in rule_countries and c in EU_MEMBERS)]
    if others and "WORLDWIDE" not in rule_countries:
        other = data.draw(st.sampled_from(others), label="a country outside the rule")
        assert not matches(query, doc(ships_to=[other]))
