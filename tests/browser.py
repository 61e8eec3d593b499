"""Debian's headless Chromium driven over the DevTools protocol, for the browser tests.

Driving the browser (navigate, wait for an element, read the DOM) replaces `--dump-dom`, whose
dump races a navigation started by the page (a form posted on load dumps an empty document).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.needs import needs

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = needs(Path(CHROMIUM).exists(), "Debian's chromium")


class Page:
    """The smallest DevTools client a test needs: navigate, evaluate JavaScript, wait for a condition."""

    def __init__(self, ws_url: str) -> None:
        self.ws = connect(ws_url, max_size=None, open_timeout=30)
        self.next_id = 0

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js(f"document.readyState === 'complete' && !!({expression})"):
                    return
            except RuntimeError:
                pass  # the page is navigating: its context is gone for a moment
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}; page: {self.text()[:1500]}")

    def goto(self, url: str, ready: str) -> None:
        """Navigate and wait until the new document (not the one being left) satisfies `ready`."""
        self.js("window.__left_behind = true")
        self.send("Page.navigate", url=url)
        self.wait_for(f"!window.__left_behind && ({ready})")

    def fill(self, selector: str, value: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")

    def text(self) -> str:
        return self.js("document.body ? document.body.innerText : ''") or ""

    def html(self) -> str:
        return self.js("document.documentElement.outerHTML")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path) -> Iterator[Page]:
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.send("Page.enable")
        yield page
        page.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
