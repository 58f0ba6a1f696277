"""The one redaction rule (crawler.common.redaction) for URLs and free text."""

from __future__ import annotations

import pytest

from crawler.common.redaction import is_secret_param, mask_values, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:secret@127.0.0.1:8118", "http://user:***@127.0.0.1:8118"),
        ("smtps://u:secret@mx:465", "smtps://u:***@mx:465"),
        ("smtp+starttls://user%40corp:p%40ss@mail.example.org", "smtp+starttls://user%40corp:***@mail.example.org"),
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("https://ghp_TOKEN@es.example:9200/", "https://***@es.example:9200/"),  # bare-token userinfo
        ("https://es.example:9200/x?q=fentanyl&api_key=abc&keyword=k", "https://es.example:9200/x?q=fentanyl&api_key=***&keyword=k"),
        ("http://[::1]:9200/?access_token=t#frag", "http://[::1]:9200/?access_token=***#frag"),
        ("http://127.0.0.1:9200", "http://127.0.0.1:9200"),
        ("sqlite:////var/lib/nw/jobs.sqlite", "sqlite:////var/lib/nw/jobs.sqlite"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_unparseable_url_is_masked_as_text() -> None:
    assert redact_url("http://u:pw@[::1") == "http://u:***@[::1"


def test_secret_param_names() -> None:
    assert all(map(is_secret_param, ["token", "access_token", "api-key", "X-Auth", "client_secret", "sig", "PASSWORD"]))
    assert not any(map(is_secret_param, ["q", "keyword", "monkey", "page", "signup", "author"]))


def test_key_is_a_secret_name_only_with_a_credential_qualifier() -> None:
    """``?key=`` is a search box on markets (``/search?key=fentanyl``) as often as an API key: bare, it is shown."""
    assert all(map(is_secret_param, ["api_key", "apiKey", "APIKEY", "X-Api-Key", "access-key", "client_key",
                                     "private.key", "subscription-key", "appkey"]))
    assert not any(map(is_secret_param, ["key", "KEY", "search_key", "sort_key", "cat-key", "keys", "hotkey"]))
    url = "http://market.example.onion/search?key=fentanyl+citrate&search_key=4-ANPP&apiKey=abc123&page=2"
    assert redact_url(url) == (
        "http://market.example.onion/search?key=fentanyl+citrate&search_key=4-ANPP&apiKey=***&page=2"
    )


def test_a_configured_key_is_masked_by_value_under_any_name() -> None:
    """Our own API key sent as ``?key=``: masked because it is a configured secret (an environment variable
    named *KEY*, *TOKEN*, *PASSWORD* or *SECRET*), while a search keyword in the same log stays readable."""
    import logging

    from crawler.logging_setup import RedactingFilter

    flt = RedactingFilter({"NARCOWATCH_MAPS_KEY": "AIzaSyD-example-0123456789", "HOME": "/root"})
    record = logging.LogRecord("x", logging.INFO, "x", 0, "GET %s then %s", (
        "https://maps.example/api/geocode?key=AIzaSyD-example-0123456789&address=Wuhan",
        "http://market.example.onion/search?key=carfentanil",
    ), None)
    flt.filter(record)
    assert record.getMessage() == (
        "GET https://maps.example/api/geocode?key=***&address=Wuhan then "
        "http://market.example.onion/search?key=carfentanil"
    )


def test_redact_text_masks_every_url_and_the_given_values() -> None:
    text = "to https://u:pw@es:9200/x and https://tok@h/p?token=abc&page=2; cookie sid-1234 and host?q=a@b"
    assert redact_text(text, ["sid-1234"]) == (
        "to https://u:***@es:9200/x and https://***@h/p?token=***&page=2; cookie *** and host?q=a@b"
    )
    assert redact_text("plain https://es.example:9200/ no creds") == "plain https://es.example:9200/ no creds"


def test_mask_values_longest_first() -> None:
    assert mask_values("abc and abcdef", ["abc", "abcdef", ""]) == "*** and ***"
