"""Write constraints.txt: every package of the dependency tree (all extras), pinned.

`make install` and deploy/Dockerfile install with `-c constraints.txt`, so a fresh machine gets the tree
the suite passed with, not whatever the indirect dependencies released since. Run after changing
pyproject.toml: `python scripts/lock_dependencies.py` keeps the current pins and resolves only what is new
or changed; `--fresh` resolves the whole tree again. It asks the package index (pip's dry run), installs
nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "constraints.txt"
EXTRAS = "dev,embedded,k8s"
HEADER = ("# The whole dependency tree, pinned (python scripts/lock_dependencies.py writes it; do not edit).\n"
          f"# make install and deploy/Dockerfile install with -c constraints.txt. Extras: {EXTRAS}.\n")


def resolve(fresh: bool) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--report", str(report), f".[{EXTRAS}]"]
        if LOCK.exists() and not fresh:
            command[4:4] = ["-c", str(LOCK)]
        subprocess.run(command, cwd=REPO, check=True)
        installs = json.loads(report.read_text())["install"]
    pins = {(item["metadata"]["name"], item["metadata"]["version"]) for item in installs}
    return sorted((n, v) for n, v in pins if n not in ("hotel-platform", "setuptools", "pip"))


def main(argv: list[str]) -> None:
    pins = resolve("--fresh" in argv)
    LOCK.write_text(HEADER + "".join(f"{name}=={version}\n" for name, version in
                                     sorted(pins, key=lambda pin: pin[0].lower())))
    print(f"{LOCK.name}: {len(pins)} packages")


if __name__ == "__main__":
    main(sys.argv[1:])
