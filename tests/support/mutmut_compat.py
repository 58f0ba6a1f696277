"""Pytest plugin loaded only by ``make mutation``: mutmut 3.7 reads ``item._nodeid``, gone in pytest 9.

(mutmut 3.8 reads the public ``nodeid`` but needs click>=8.4, and the project pins click 8.3.1.)
"""

from __future__ import annotations

from _pytest.nodes import Node

if not hasattr(Node, "_nodeid"):
    Node._nodeid = property(lambda self: self.nodeid)  # type: ignore[attr-defined]
