"""Property tests of listing ids and content hashes (hypothesis; example counts bounded to run in seconds)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.fingerprint import _TRACKING, canonical_url, content_hash, fingerprint
from crawler.items import Listing
from tests.support.examples import examples

CONTENT_FIELDS = ("title", "description", "price", "currency", "stock", "quantity")

# parameter names the fingerprint keeps (tracking and session names are dropped on purpose)
keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda k: not _TRACKING.match(k))
values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
paths = st.lists(st.text("abcXYZ019-_.~%", min_size=1, max_size=6), max_size=3).map(
    lambda parts: "/" + "/".join(quote(p, safe="") for p in parts))


@settings(max_examples=examples(200), deadline=None)
@given(params=st.lists(st.tuples(keys, values), min_size=1, max_size=6), path=paths, data=st.data())
def test_fingerprint_is_stable_under_query_parameter_order(params: list[tuple[str, str]], path: str,
                                                           data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(params), label="another order")
    a = Listing(url=f"http://m.example{path}?{urlencode(params)}", source="s", source_kind="market")
    b = Listing(url=f"http://m.example{path}?{urlencode(shuffled)}&utm_source=x#frag", source="s2",
                source_kind="market")
    assert canonical_url(a.url) == canonical_url(b.url)
    assert fingerprint(a) == fingerprint(b)


@settings(max_examples=examples(200), deadline=None)
@given(params=st.lists(st.tuples(keys, values), min_size=1, max_size=4, unique_by=lambda kv: kv[0]), data=st.data())
def test_fingerprint_changes_with_any_kept_parameter_value(params: list[tuple[str, str]], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(params) - 1), label="the parameter that changes")
    new_value = data.draw(values.filter(lambda v: v != params[i][1]), label="its new value")
    changed = [*params[:i], (params[i][0], new_value), *params[i + 1:]]
    a = Listing(url=f"http://m.example/v?{urlencode(params)}", source="s", source_kind="market")
    b = Listing(url=f"http://m.example/v?{urlencode(changed)}", source="s", source_kind="market")
    assert fingerprint(a) != fingerprint(b)


def _norm(value: str) -> str:
    return " ".join(value.split()).lower()


field_values = st.text(max_size=30)


@settings(max_examples=examples(300), deadline=None)
@given(base=st.fixed_dictionaries({f: field_values for f in CONTENT_FIELDS}), field=st.sampled_from(CONTENT_FIELDS),
       data=st.data())
def test_content_hash_changes_with_any_listed_field(base: dict[str, str], field: str, data: st.DataObject) -> None:
    new = data.draw(field_values.filter(lambda v: _norm(v) != _norm(base[field])), label="new value")
    a = Listing(url="http://m.example/item/1", source="s", source_kind="market", **base)
    b = Listing(url="http://m.example/item/1", source="s", source_kind="market", **{**base, field: new})
    assert content_hash(a) != content_hash(b)
    # surrounding spaces alone are not a change
    c = Listing(url="http://m.example/item/1", source="s", source_kind="market",
                **{**base, field: "  " + base[field] + "\n"})
    assert content_hash(a) == content_hash(c)
