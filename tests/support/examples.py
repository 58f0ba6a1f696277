"""Example counts for the property tests: as written, or a fortieth-size run under ``make mutation``.

A mutation run executes the tests once per mutant; there derandomized hypothesis with few examples
judges a mutant in a second instead of tens of seconds (the fixed examples stay, see ``@example``).
"""

from __future__ import annotations

import os


def examples(n: int) -> int:
    """``n``, or at most 40 when ``NARCOWATCH_HYPOTHESIS_PROFILE=mutation``."""
    return min(n, 40) if os.environ.get("NARCOWATCH_HYPOTHESIS_PROFILE") == "mutation" else n
