"""The operational schema: migrations round-trip, constraints refuse what must never happen."""

import secrets
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core import crypto
from core.db import plain_url
from core.migrate import current_heads, downgrade, upgrade

pytestmark = pytest.mark.embedded

EXPECTED_TABLES = {
    "suppliers", "master_hotels", "supplier_hotels", "hotel_mappings", "room_types", "availability", "rates",
    "partners", "api_credentials", "pricing_rules", "fx_rates", "quotes", "quote_offers", "orders",
    "order_events", "idempotency_keys", "outbox_events", "settlement_cycles", "settlement_lines",
    "settlement_discrepancies", "journal_entries", "platform_config", "feature_flags", "supplier_quarantine",
    "supplier_calls",
}


@pytest.fixture
def scratch_url(database_url):
    """A second empty database on the same server, for the round trip."""
    name = f"hotel_scratch_{secrets.token_hex(4)}"
    with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = plain_url(database_url).partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    yield url
    from core.db import engine_for

    engine_for(url).dispose()
    with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url):
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def test_migrations_round_trip(scratch_url):
    upgrade(scratch_url)
    assert EXPECTED_TABLES <= _tables(scratch_url)
    assert current_heads(scratch_url)
    downgrade(scratch_url, "base")
    assert _tables(scratch_url) <= {"hotel_alembic_version"}
    upgrade(scratch_url)
    assert EXPECTED_TABLES <= _tables(scratch_url)


def test_money_columns_are_numeric_never_float(engine):
    with engine.connect() as conn:
        floats = conn.execute(sa.text(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND data_type IN ('real', 'double precision')"
        )).fetchall()
    assert floats == []


def _supplier(conn, code):
    conn.execute(sa.text("INSERT INTO suppliers (code, name, protocol) VALUES (:c, :c, 'json')"
                         " ON CONFLICT DO NOTHING"), {"c": code})


def _room(conn, supplier="TST"):
    _supplier(conn, supplier)
    hotel = conn.execute(sa.text(
        "INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, content_hash)"
        " VALUES (:s, :h, 'Test Hotel', 'x') RETURNING id"), {"s": supplier, "h": secrets.token_hex(4)}
    ).scalar_one()
    return conn.execute(sa.text(
        "INSERT INTO room_types (supplier_hotel, room_code, name) VALUES (:h, 'DBL', 'Double') RETURNING id"),
        {"h": hotel}).scalar_one(), hotel


def test_negative_allotment_is_refused(engine):
    with pytest.raises(IntegrityError, match="allotment"), engine.begin() as conn:
        room, _ = _room(conn)
        conn.execute(sa.text("INSERT INTO availability (room_type_id, stay_date, allotment)"
                             " VALUES (:r, '2026-12-01', -1)"), {"r": room})


def test_non_positive_rate_is_refused(engine):
    with pytest.raises(IntegrityError, match="net_amount"), engine.begin() as conn:
        room, _ = _room(conn)
        conn.execute(sa.text("INSERT INTO rates (room_type_id, stay_date, board, net_amount, currency)"
                             " VALUES (:r, '2026-12-01', 'RO', 0, 'CNY')"), {"r": room})


def test_mapping_to_a_missing_hotel_is_refused(engine):
    with pytest.raises(IntegrityError, match="master_hotel_id"), engine.begin() as conn:
        _, hotel = _room(conn)
        conn.execute(sa.text(
            "INSERT INTO hotel_mappings (supplier_hotel, master_hotel_id, decision, score, content_hash)"
            " VALUES (:h, 'NO-SUCH-HOTEL', 'auto', 0.99, 'x')"), {"h": hotel})


def test_auto_mapping_needs_a_hotel(engine):
    with pytest.raises(IntegrityError), engine.begin() as conn:
        _, hotel = _room(conn)
        conn.execute(sa.text(
            "INSERT INTO hotel_mappings (supplier_hotel, master_hotel_id, decision, score, content_hash)"
            " VALUES (:h, NULL, 'auto', 0.99, 'x')"), {"h": hotel})


def _order(conn, supplier_ref, partner):
    conn.execute(sa.text(
        "INSERT INTO orders (partner_id, status, our_reference, supplier_code, supplier_ref, hotel_id,"
        " check_in, check_out, net_amount, net_currency, sell_amount, sell_currency)"
        " VALUES (:p, 'CONFIRMED', :our, 'TST', :ref, 'MH-T1', '2026-12-01', '2026-12-03', 100, 'CNY', 120,"
        " 'CNY')"), {"p": partner, "our": f"HP-{uuid.uuid4()}", "ref": supplier_ref})


def test_duplicate_supplier_booking_reference_is_refused(engine):
    with engine.begin() as conn:
        _supplier(conn, "TST")
        conn.execute(sa.text("INSERT INTO master_hotels (id, name, city, country) VALUES ('MH-T1', 'T', 'X', 'CN')"
                             " ON CONFLICT DO NOTHING"))
        partner = conn.execute(sa.text("INSERT INTO partners (name, credit_currency) VALUES ('P', 'CNY')"
                                       " RETURNING id")).scalar_one()
        _order(conn, "SUP-REF-1", partner)
    with pytest.raises(IntegrityError, match="supplier_code"), engine.begin() as conn:
        _order(conn, "SUP-REF-1", partner)


def test_feature_flags_seeded_off_and_rollout_bounded(engine):
    seeded = ("supplier.realtime.sync", "risk.auto.reject", "matching.ai.boost", "settlement.auto.reconcile",
              "admin.v2")
    with engine.connect() as conn:
        flags = dict(conn.execute(sa.text("SELECT name, enabled FROM feature_flags WHERE name = ANY(:n)"),
                                  {"n": list(seeded)}).fetchall())
    assert flags == dict.fromkeys(seeded, False)
    with pytest.raises(IntegrityError, match="rollout_pct"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE feature_flags SET rollout_pct = 101 WHERE name = 'admin.v2'"))


def test_supplier_credentials_are_stored_encrypted(engine):
    secret = "dev-secret-for-test"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO suppliers (code, name, protocol, api_key_encrypted)"
                             " VALUES ('ENC', 'Enc', 'json', :k)"), {"k": crypto.encrypt("key-123", secret)})
        stored = conn.execute(sa.text("SELECT api_key_encrypted FROM suppliers WHERE code = 'ENC'")).scalar_one()
    assert b"key-123" not in bytes(stored)
    assert crypto.decrypt(stored, secret) == "key-123"
    with pytest.raises(ValueError, match="ENCRYPTION_SECRET"):
        crypto.decrypt(stored, "another-secret")
