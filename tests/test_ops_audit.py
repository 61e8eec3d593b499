"""The staff audit log: entries land with their change, filter, export as CSV, and cannot be rewritten."""

from __future__ import annotations

import csv
import io
import secrets

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from core import audit

# A name of its own: other tests' CLI users (`--by alice`) write entries to the same log.
ALICE = audit.Actor(f"alice-{secrets.token_hex(3)}", "operator", "console")


def test_an_entry_lands_only_with_its_change_and_filters(engine) -> None:
    with engine.begin() as conn:
        first = audit.record(conn, ALICE, "partner.suspend", "partner:p-1", {"status": "active"},
                             {"status": "suspended"}, note="unpaid invoices")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        audit.record(conn, ALICE, "partner.reactivate", "partner:p-1")
        raise RuntimeError("the change failed")
    with engine.begin() as conn:
        audit.record(conn, audit.Actor("bob", "admin", "cli"), "supplier.disable", "supplier:C", {"enabled": True},
                     {"enabled": False})

    alices = audit.search(engine, actor=ALICE.name)
    assert [row["id"] for row in alices] == [first]
    assert alices[0]["after"] == {"status": "suspended"} and alices[0]["note"] == "unpaid invoices"
    assert [row["action"] for row in audit.search(engine, action="supplier.")] == ["supplier.disable"]
    assert audit.search(engine, action="partner.reactivate") == []

    exported = list(csv.DictReader(io.StringIO(audit.as_csv(audit.search(engine, target="supplier:C")))))
    assert [(row["actor"], row["source"], row["before"]) for row in exported] == [("bob", "cli", '{"enabled": true}')]


def test_entries_cannot_be_rewritten(engine) -> None:
    with engine.begin() as conn:
        entry = audit.record(conn, ALICE, "order.approve", "order:o-1")
    for statement in ("UPDATE audit_log SET actor = 'mallory' WHERE id = :id", "DELETE FROM audit_log WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement), {"id": entry})
    assert audit.search(engine, target="order:o-1")[0]["actor"] == ALICE.name


def test_an_unknown_source_is_refused(engine) -> None:
    with pytest.raises(ValueError, match="source"), engine.begin() as conn:
        audit.record(conn, audit.Actor("alice", "operator", "email"), "order.approve", "order:o-1")
