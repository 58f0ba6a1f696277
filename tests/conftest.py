"""Shared pytest set-up: each plugin module starts one real service on loopback, once per session.

The session gets a state home of its own (``NARCOWATCH_HOME``, deleted at exit): the user's managed node,
spool, outbox and browser profile are neither read nor written by tests. A stale ``node.json`` of the
user's node naming 127.0.0.1:9200 once sent that node's credentials to the test node on the same port.

``NARCOWATCH_*`` variables left in the shell (an ES URL or API key, a config directory, a spool or evidence
directory, a crash switch of a test) are dropped before anything reads them: tests see the same
environment on every machine. Kept are the ones that say where this machine's tools are
(``HOST_VARIABLES``) and the test switches (``NARCOWATCH_TEST_ES_URL`` with its cluster's credentials).
docs/testing.md ("Host state and CI") lists the rest of what the suite no longer takes from the host.
"""

import atexit as _atexit
import os as _os
import shutil as _shutil

HOST_VARIABLES = frozenset({
    "NARCOWATCH_JAVA_HOME",  # where a JDK 21+ is
    "NARCOWATCH_CHROMIUM",  # where Chromium is
    "NARCOWATCH_CACHE",  # where the Elasticsearch distribution is cached
    "NARCOWATCH_NODE_ROOT",  # where root's node directories go
    "NARCOWATCH_TEST_ES_URL",  # an external test cluster instead of a managed node
    "NARCOWATCH_HYPOTHESIS_PROFILE",  # scripts/mutation.py
})
"""``NARCOWATCH_*`` variables a test session keeps from the host; every other one is dropped."""
EXTERNAL_CLUSTER_AUTH = ("NARCOWATCH_ES_USER", "NARCOWATCH_ES_PASSWORD", "NARCOWATCH_ES_API_KEY", "NARCOWATCH_ES_CA")


def kept_variables(environ: "dict[str, str] | _os._Environ[str]") -> set[str]:
    """The ``NARCOWATCH_*`` names of ``environ`` a test session keeps."""
    keep = set(HOST_VARIABLES)
    if environ.get("NARCOWATCH_TEST_ES_URL"):
        keep.update(EXTERNAL_CLUSTER_AUTH)  # the external cluster's own credentials
    if not environ.get("CI"):
        keep.add("NARCOWATCH_UPDATE_FIXTURES")  # a developer regenerating fixtures; never in CI (nothing could fail)
    return {name for name in environ if name.startswith("NARCOWATCH_") and name in keep}


def scrub_environment(environ: "dict[str, str] | _os._Environ[str]") -> list[str]:
    """Drop every ``NARCOWATCH_*`` variable the session does not keep; returns the dropped names."""
    kept = kept_variables(environ)
    dropped = sorted(n for n in environ if n.startswith("NARCOWATCH_") and n not in kept)
    for name in dropped:
        del environ[name]
    return dropped


DROPPED_VARIABLES = scrub_environment(_os.environ)
KEPT_VARIABLES = frozenset(n for n in _os.environ if n.startswith("NARCOWATCH_"))
"""What the session started with (tests change the environment later, through monkeypatch or not)."""

from tests.plugins import leftovers as _leftovers  # noqa: E402  (after the scrub: nothing reads a stale variable)

_SESSION_HOME = _leftovers.session_dir("narcowatch-test-home-")  # marked ours while this process lives
_os.environ["NARCOWATCH_HOME"] = str(_SESSION_HOME)
_atexit.register(_shutil.rmtree, _SESSION_HOME, True)

pytest_plugins = ["tests.plugins.es", "tests.plugins.web", "tests.plugins.smtp", "tests.plugins.redis"]


def pytest_sessionstart() -> None:
    """Remove what sessions that died left (their state homes, test nodes and node directories)."""
    _leftovers.sweep()


def pytest_report_header() -> list[str]:
    if DROPPED_VARIABLES:
        return ["narcowatch: ignoring " + ", ".join(DROPPED_VARIABLES) + " from the environment (tests/conftest.py)"]
    return []


# hypothesis: "mutation" (set by scripts/mutation.py) derandomizes, so a mutant is killed or not on its merits
try:
    from hypothesis import settings as _hsettings

    _hsettings.register_profile("mutation", derandomize=True, database=None, deadline=None)
    _hsettings.register_profile("default", deadline=None)
    _hsettings.load_profile(_os.environ.get("NARCOWATCH_HYPOTHESIS_PROFILE", "default"))
except ImportError:  # hypothesis is a dev dependency; the property tests need it, nothing else does
    pass
