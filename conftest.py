"""Load the Stratum pytest plugin when running from a source tree.

An installed stratum registers `stratum.testing.plugin` through its `pytest11` entry point;
loading it here as well would register it twice, so this only fills in when it is missing.
"""

from __future__ import annotations

from importlib.metadata import entry_points

if not any(ep.value == "stratum.testing.plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["stratum.testing.plugin"]
