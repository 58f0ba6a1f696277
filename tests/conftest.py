"""Shared pytest set-up: each plugin module starts one real service on loopback, once per session.

The session gets a state home of its own (``NARCOWATCH_HOME``, deleted at exit): the user's managed node,
spool, outbox and browser profile are neither read nor written by tests. A stale ``node.json`` of the
user's node naming 127.0.0.1:9200 once sent that node's credentials to the test node on the same port.
"""

import atexit as _atexit
import os as _os
import shutil as _shutil
import tempfile as _tempfile

_SESSION_HOME = _tempfile.mkdtemp(prefix="narcowatch-test-home-")
_os.environ["NARCOWATCH_HOME"] = _SESSION_HOME
_atexit.register(_shutil.rmtree, _SESSION_HOME, True)

pytest_plugins = ["tests.plugins.es", "tests.plugins.web", "tests.plugins.smtp", "tests.plugins.redis"]

# hypothesis: "mutation" (set by scripts/mutation.py) derandomizes, so a mutant is killed or not on its merits
try:
    from hypothesis import settings as _hsettings

    _hsettings.register_profile("mutation", derandomize=True, database=None, deadline=None)
    _hsettings.register_profile("default", deadline=None)
    _hsettings.load_profile(_os.environ.get("NARCOWATCH_HYPOTHESIS_PROFILE", "default"))
except ImportError:  # hypothesis is a dev dependency; the property tests need it, nothing else does
    pass
