"""Finance's settlement pages in a real headless Chromium, driven over the DevTools protocol:
sign in, open a cycle, resolve a discrepancy with a note, approve the cycle."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from websockets.sync.client import connect

from core.partners import create_staff_credentials
from core.settlement import review
from tests.live_server import serve
from tests.settlement_fixtures import STANDARD_ORDERS, STANDARD_PARTNERS, past_cycle, seed_cycle, standard_statement

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def live_api(settings, migrated):
    from api.app import create_app

    with serve(create_app(settings, migrated)) as url:
        yield url


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

    def wait_for(self, expression: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js(f"document.readyState === 'complete' && !!({expression})"):
                    return
            except RuntimeError:
                pass  # the page is navigating: its context is gone for a moment
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}; page: {self.js('document.body.innerText')[:1500]}")

    def goto(self, url: str, ready: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for(ready)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path):
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


def _fill(page: Page, selector: str, value: str) -> None:
    page.js(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")


def test_finance_resolves_and_approves_through_the_page(engine, settings, live_api, browser):
    seeded = seed_cycle(engine, past_cycle(5), STANDARD_ORDERS, STANDARD_PARTNERS)
    finance = create_staff_credentials(engine, "finance")

    # Not signed in: the login form; a wrong secret is refused on the page.
    browser.goto(f"{live_api}/settlements", "document.querySelector('#login-form')")
    _fill(browser, "#client_id", finance.client_id)
    _fill(browser, "#client_secret", "wrong")
    browser.js("document.querySelector('#sign-in').click()")
    browser.wait_for("document.querySelector('#login-error')")
    assert "not valid" in browser.js("document.querySelector('#login-error').innerText")

    _fill(browser, "#client_id", finance.client_id)
    _fill(browser, "#client_secret", finance.client_secret)
    browser.js("document.querySelector('#sign-in').click()")
    browser.wait_for("document.querySelector('#upload-form')")

    # Upload the supplier's statement through the page: a bad one is refused with its line, then the right one.
    _fill(browser, "#upload-supplier", seeded.supplier)
    _fill(browser, "#upload-period", seeded.cycle.key)
    _fill(browser, "#upload-content", standard_statement(seeded).replace(",charged,85.00,", ",charged,85,00,"))
    browser.js("document.querySelector('#upload').click()")
    browser.wait_for("document.querySelector('#upload-error')")
    assert "line 4" in browser.js("document.querySelector('#upload-error').innerText")
    _fill(browser, "#upload-supplier", seeded.supplier)
    _fill(browser, "#upload-period", seeded.cycle.key)
    _fill(browser, "#upload-content", standard_statement(seeded))
    browser.js("document.querySelector('#upload').click()")
    browser.wait_for("document.querySelector('#discrepancies')")
    assert "4 discrepancies" in browser.js("document.querySelector('#message').innerText")
    cycle_id = review.list_cycles(engine, supplier_code=seeded.supplier)[0]["id"]

    browser.goto(f"{live_api}/settlements", f"document.querySelector('tr[data-cycle-id=\"{cycle_id}\"]')")
    row_text = browser.js(f"document.querySelector('tr[data-cycle-id=\"{cycle_id}\"]').innerText")
    assert seeded.supplier in row_text and "reconciled" in row_text and "445.00 USD" in row_text

    browser.js(f"document.querySelector('tr[data-cycle-id=\"{cycle_id}\"] a').click()")
    browser.wait_for("document.querySelector('#discrepancies')")
    assert browser.js("document.querySelector('#open-count').innerText") == "4"
    assert "527.24" in browser.js("document.querySelector('#journal').innerText")

    # Filter to one class, then resolve that discrepancy with a note.
    browser.js("document.querySelector('#filter-class').value = 'missing_in_platform';"
               "document.querySelector('#filter').click()")
    browser.wait_for("document.querySelectorAll('#discrepancies tbody tr').length === 1")
    assert browser.js("document.querySelector('#discrepancies tbody tr').dataset.ref") == "STRAY-1"
    browser.js("const f = document.querySelector('#discrepancies tbody tr .resolve-form');"
               "f.querySelector('input[name=note]').value = 'booked by phone; order added next cycle';"
               "f.querySelector('button').click()")
    browser.wait_for("document.querySelector('#message')")
    assert "resolved" in browser.js("document.querySelector('#message').innerText")
    assert browser.js("document.querySelector('#open-count').innerText") == "3"
    stray = next(d for d in review.list_discrepancies(engine, cycle_id) if d["supplier_ref"] == "STRAY-1")
    assert stray["status"] == "resolved" and stray["resolved_by"] == finance.client_id
    assert stray["resolution_note"] == "booked by phone; order added next cycle"

    browser.js("document.querySelector('#approve').click()")
    browser.wait_for("document.querySelector('#cycle-status').innerText === 'approved'")
    assert "Cycle approved" in browser.js("document.querySelector('#message').innerText")
    assert not browser.js("!!document.querySelector('#approve')")
    cycle = review.get_cycle(engine, cycle_id)
    assert cycle["status"] == "approved" and cycle["approved_by"] == finance.client_id

    # The printable report of the approved cycle opens from the same session.
    browser.goto(f"{live_api}/settlements/cycles/{cycle_id}/report", "document.querySelector('h1')")
    text = browser.js("document.body.innerText")
    assert "approved" in text and "STRAY-1" in text and "445.00" in text


def test_pages_refuse_other_roles_and_forged_forms(api_client, engine):
    operator = create_staff_credentials(engine, "operator")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = api_client.post("/settlements/login", content=urlencode({"client_id": operator.client_id,
                                                                       "client_secret": operator.client_secret}),
                              headers=form, follow_redirects=False)
    assert refused.status_code == 403 and "finance role only" in refused.text
    assert "settlement_session" not in refused.headers.get("set-cookie", "")
    finance = create_staff_credentials(engine, "finance")
    signed = api_client.post("/settlements/login", content=urlencode({"client_id": finance.client_id,
                                                                      "client_secret": finance.client_secret}),
                             headers=form, follow_redirects=False)
    assert signed.status_code == 303 and "HttpOnly" in signed.headers["set-cookie"]
    forged = api_client.post("/settlements/cycles/1/approve", content="csrf=guess", headers=form,
                             follow_redirects=False)
    assert forged.status_code == 403
    api_client.cookies.clear()
    anonymous = api_client.post("/settlements/cycles/1/approve", content="csrf=guess", follow_redirects=False)
    assert anonymous.status_code == 401
