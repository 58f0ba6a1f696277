"""`narcowatch source try` on a real saved result page served on loopback: listings, fill rates, and the
selector that matched nothing named; no Elasticsearch."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

from crawler.paths import ROOT

PAGES = ROOT / "tests" / "fixtures" / "real_pages"

SOURCE = """sources:
  - name: empire-try
    kind: market
    start_urls: ["{url}"]
    allow_private_addresses: true
    robots: ignore
    rate_limit: {{download_delay: 0}}
    listing_rows: "div.col-1search"
    links:
      listing: "div.head > a"
      native_id_regex: "product/(\\\\d+)"
    fields:
      title: "div.head > a"
      price: "p.bold.padp"
      vendor: "a[href*='/u/']"
      ships_from: "span.no-such-thing"
"""


def test_source_try_on_loopback_real_page(tmp_path: Path) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(PAGES / "empire"))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/results/saved_empire_search_result_0.html"
        cfg = tmp_path / "try.yaml"
        cfg.write_text(SOURCE.format(url="http://127.0.0.1:1/"), encoding="utf-8")
        env = {**os.environ, "NARCOWATCH_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
        proc = subprocess.run([sys.executable, "-m", "crawler.cli", "source", "try", str(cfg), "--url", url,
                               "--pages", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
                              check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    err = proc.stderr
    assert "empire-try: 15 listing(s) from 1 page(s)" in err
    assert "fill title" in err and "100.0%" in err
    assert "matched nothing: fields.ships_from" in err
    assert "matched nothing: fields.title" not in err
    assert "2g. Pure Peruvian" in proc.stdout + err
