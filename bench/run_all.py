"""`make bench`: run every benchmark script in bench/ in turn and print their reports.

Each script measures its own baseline in the same run and prints ratios. Long ones (the 10-minute
daemon run) only run with BENCH_LONG=1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["bench_nlp.py", "bench_index.py", "bench_e2e.py", "bench_browser_memory.py", "bench_alert_latency.py"]
LONG = ["bench_daemon.py"]


def main() -> int:
    scripts = [HERE / name for name in ORDER if (HERE / name).exists()]
    if os.environ.get("BENCH_LONG") == "1":
        scripts += [HERE / name for name in LONG if (HERE / name).exists()]
    only = sys.argv[1:]
    if only:
        scripts = [s for s in scripts if any(o in s.name for o in only)]
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"--- {script.name}: exit {rc}, {time.monotonic() - t0:.0f} s", flush=True)
        if rc:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
