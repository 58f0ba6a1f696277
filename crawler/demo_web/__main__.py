"""Serve the demo web in the foreground: ``python -m crawler.demo_web [--port N] [--broken]``."""

from __future__ import annotations

import argparse
import time

from crawler.demo_web import DemoWeb


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the narcowatch demo web on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8808)
    parser.add_argument("--scale", type=int, default=1, help="multiply the marketplace's listings")
    parser.add_argument("--broken", action="store_true", help="also serve the /broken/ test site")
    args = parser.parse_args()
    web = DemoWeb(port=args.port, scale=args.scale, include_broken=args.broken)
    print(web.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        web.stop()


if __name__ == "__main__":
    main()
