"""Shared pytest set-up: each plugin module starts one real service on loopback, once per session."""

pytest_plugins = ["tests.plugins.es", "tests.plugins.web", "tests.plugins.smtp", "tests.plugins.redis"]

# hypothesis: "mutation" (set by scripts/mutation.py) derandomizes, so a mutant is killed or not on its merits
try:
    import os as _os

    from hypothesis import settings as _hsettings

    _hsettings.register_profile("mutation", derandomize=True, database=None, deadline=None)
    _hsettings.register_profile("default", deadline=None)
    _hsettings.load_profile(_os.environ.get("NARCOWATCH_HYPOTHESIS_PROFILE", "default"))
except ImportError:  # hypothesis is a dev dependency; the property tests need it, nothing else does
    pass
