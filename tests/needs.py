"""Markers for tests that need a tool or service of the machine: skipped where it is missing, except under
CI=true, where the test runs and fails (`make tools` installs the tools; a CI that skips proves nothing)."""

from __future__ import annotations

import os
import shutil

import pytest

ON_CI = os.environ.get("CI") == "true"


def needs(available: bool, what: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not available and not ON_CI, reason=f"{what} is not available (make tools)")


# Where Debian puts administration tools (rabbitmqctl): on root's PATH, not on a plain user's or `env -i`'s.
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def tool(name: str) -> str | None:
    """The tool's path: on PATH, else in the system directories."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SYSTEM_DIRS))


def needs_tool(name: str) -> pytest.MarkDecorator:
    return needs(tool(name) is not None, name)
