"""Markers for tests that need a tool or service of the machine: skipped where it is missing, except under
CI=true, where the test runs and fails (`make tools` installs the tools; a CI that skips proves nothing)."""

from __future__ import annotations

import os
import shutil

import pytest

ON_CI = os.environ.get("CI") == "true"


def needs(available: bool, what: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not available and not ON_CI, reason=f"{what} is not available (make tools)")


def needs_tool(name: str) -> pytest.MarkDecorator:
    return needs(shutil.which(name) is not None, name)
