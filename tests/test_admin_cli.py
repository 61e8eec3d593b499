"""The operator's `hotelctl` commands over the same core functions as the admin API: find a REVIEW order by the
partner's reference, reject and cancel it with a note, suspend and reactivate a partner (its next API call is
refused), disable and enable a supplier; each in the audit log under `--as` (or the OS user), source cli."""

from __future__ import annotations

import getpass
import json
import time
import uuid

from typer.testing import CliRunner

from core import audit
from tests.admin_fixtures import order_held_for_review

pytest_plugins = ["tests.admin_fixtures"]


def _hotelctl(*args: str):
    from cli.main import app

    return CliRunner().invoke(app, list(args))


def test_operator_commands_with_audit(api_client, engine, redis_url, settings, cli_env):
    reference = f"PO-CLI-{uuid.uuid4().hex[:6]}"
    creds, headers, order = order_held_for_review(api_client, engine, redis_url, settings, reference)

    found = _hotelctl("orders", "search", "--client-reference", reference)
    assert found.exit_code == 0, found.output
    assert [o["order_id"] for o in json.loads(found.stdout)["items"]] == [order["order_id"]]
    queue = json.loads(_hotelctl("orders", "review-queue", "--partner", str(creds.partner_id)).stdout)
    assert [o["order_id"] for o in queue["items"]] == [order["order_id"]]
    rejected = _hotelctl("orders", "reject", order["order_id"], "--note", "stolen card pattern", "--as", "alice")
    assert rejected.exit_code == 0, rejected.output
    assert "FAILED" in rejected.stdout
    timeline = json.loads(_hotelctl("orders", "show", order["order_id"]).stdout)
    assert timeline["events"][-1]["reason"] == "review_rejected" and timeline["events"][-1]["actor"] == "alice"
    [entry] = audit.search(engine, target=f"order:{order['order_id']}")
    assert (entry["action"], entry["actor"], entry["source"], entry["note"]) == (
        "order.reject", "alice", "cli", "stolen card pattern")
    bad = _hotelctl("orders", "cancel", "not-an-id", "--reason", "x")
    assert bad.exit_code != 0

    suspended = _hotelctl("partners", "suspend", str(creds.partner_id), "--note", "fraud check")
    assert suspended.exit_code == 0, suspended.output
    deadline = time.monotonic() + 1.0
    while (refused := api_client.get("/v1/orders", headers=headers)).status_code != 403:
        assert time.monotonic() < deadline, refused.text
    assert refused.json()["error"]["code"] == "partner_suspended"
    assert _hotelctl("partners", "reactivate", str(creds.partner_id), "--as", "bob").exit_code == 0
    deadline = time.monotonic() + 1.0
    while api_client.get("/v1/orders", headers=headers).status_code != 200:
        assert time.monotonic() < deadline
    entries = audit.search(engine, target=f"partner:{creds.partner_id}")
    actions = [(e["action"], e["actor"], e["source"]) for e in entries]
    assert actions == [("partner.reactivate", "bob", "cli"), ("partner.suspend", getpass.getuser(), "cli")]
    listed = json.loads(_hotelctl("partners", "list", "--name", "Agency").stdout)
    assert listed["total"] >= 1
    bad_tier = _hotelctl("partners", "update", str(creds.partner_id), "--tier", "Gold Plus!")
    assert bad_tier.exit_code == 1 and "--tier" in bad_tier.output

    assert _hotelctl("suppliers", "disable", "A", "--note", "outage", "--as", "carol").exit_code == 0
    try:
        listed = json.loads(_hotelctl("suppliers", "list").stdout)["items"]
        assert next(s for s in listed if s["code"] == "A")["enabled"] is False
    finally:
        assert _hotelctl("suppliers", "enable", "A", "--as", "carol").exit_code == 0
    assert [e["action"] for e in audit.search(engine, target="supplier:A", actor="carol")] == [
        "supplier.enable", "supplier.disable"]
    assert _hotelctl("suppliers", "disable", "NOPE").exit_code == 1
