"""The operational schema: migrations round-trip, constraints refuse what must never happen."""

import json
import secrets
import uuid
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core import crypto
from core.db import plain_url, scratch_database
from core.migrate import current_heads, downgrade, upgrade

pytestmark = pytest.mark.embedded

EXPECTED_TABLES = {
    "suppliers", "master_hotels", "supplier_hotels", "hotel_mappings", "room_types", "availability", "rates",
    "partners", "api_credentials", "pricing_rules", "fx_rates", "quotes", "orders",
    "order_events", "idempotency_keys", "outbox_events", "settlement_cycles", "settlement_lines",
    "settlement_discrepancies", "journal_entries", "platform_config", "feature_flags", "supplier_quarantine",
    "supplier_calls", "room_mappings", "pricing_rule_versions",
}


@pytest.fixture
def scratch_url(new_database):
    """A second empty database on the same server, for the round trip."""
    return new_database("hotel_scratch")


def _tables(url):
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def _databases(url: str, prefix: str) -> set[str]:
    with psycopg.connect(plain_url(url)) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                               (f"{prefix}%",))}


def test_a_scratch_database_is_dropped_with_its_open_connections_unless_kept(database_url):
    prefix = f"scratch_{secrets.token_hex(3)}"
    with scratch_database(database_url, prefix) as dropped:
        held = psycopg.connect(dropped)  # left open: the drop must not wait for it
        assert _tables(dropped) == set()
    assert _databases(database_url, prefix) == set()
    held.close()

    with scratch_database(database_url, prefix, keep=True) as kept:
        pass
    name = urlsplit(kept).path.lstrip("/")
    try:
        assert _databases(database_url, prefix) == {name}
    finally:
        with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}"')


def test_migrations_round_trip(scratch_url):
    upgrade(scratch_url)
    assert EXPECTED_TABLES <= _tables(scratch_url)
    assert current_heads(scratch_url)
    downgrade(scratch_url, "base")
    assert _tables(scratch_url) <= {"hotel_alembic_version"}
    upgrade(scratch_url)
    assert EXPECTED_TABLES <= _tables(scratch_url)


def _offers_seen(url) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, quote_id, rank, net_amount, sell_amount, check_in, price_breakdown->'platform_markup',"
            " price_breakdown->'product'->'nights' FROM quote_offers ORDER BY id").fetchall()


def test_offers_inside_quotes_survive_the_migration_both_ways(scratch_url):
    """0005 moves offers into their quote (a view keeps `quote_offers`); its downgrade restores the table."""
    from core.quotes.ids import new_quote_ids

    upgrade(scratch_url)
    quote_id, offer_ids = new_quote_ids(2)
    offers = [{"id": offer_ids[rank], "rank": rank, "hotel_id": "H1", "supplier_code": "TST",
               "supplier_hotel_id": "t-1", "room_type_id": None, "room_type": "Double", "board": "RO",
               "net_amount": "200.5", "net_currency": "EUR", "platform_markup": "20.05", "platform_rule_id": 7,
               "partner_markup": "0", "fx_rate": "1", "sell_exact": "220.55", "sell_amount": "220.55",
               "refundable": True, "nightly_net": ["100.25", "100.25"], "cancellation_policy": []}
              for rank in range(2)]
    with psycopg.connect(scratch_url) as conn:
        conn.execute("INSERT INTO suppliers (code, name, protocol) VALUES ('TST', 'T', 'json')")
        conn.execute("INSERT INTO master_hotels (id, name, city, country) VALUES ('H1', 'Hotel', 'Lisbon', 'PT')")
        hotel = conn.execute("INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, content_hash)"
                             " VALUES ('TST', 't-1', 'Hotel', 'x') RETURNING id").fetchone()[0]
        room = conn.execute("INSERT INTO room_types (supplier_hotel, room_code, name) VALUES (%s, 'DBL', 'Double')"
                            " RETURNING id", (hotel,)).fetchone()[0]
        partner = conn.execute("INSERT INTO partners (name, credit_currency) VALUES ('P', 'EUR')"
                               " RETURNING id").fetchone()[0]
        for offer in offers:
            offer["room_type_id"] = room
        conn.execute("INSERT INTO quotes (id, partner_id, request, currency, expires_at, offers) VALUES"
                     " (%s, %s, %s, 'EUR', now(), %s)",
                     (quote_id, partner, json.dumps({"check_in": "2026-05-01", "check_out": "2026-05-03",
                                                             "rooms": 1}), json.dumps(offers).encode()))
    seen = _offers_seen(scratch_url)
    assert [str(row[0]) for row in seen] == offer_ids and {row[1] for row in seen} == {quote_id}
    assert seen[0][3:6] == (Decimal("200.5000"), Decimal("220.55"), date(2026, 5, 1))
    assert seen[0][6] == {"amount": "20.0500", "currency": "EUR", "rule_id": 7}
    assert seen[0][7] == ["2026-05-01", "2026-05-02"]
    downgrade(scratch_url, "0001_initial")
    assert "quote_offers" in _tables(scratch_url) and _offers_seen(scratch_url) == seen
    upgrade(scratch_url)
    assert "quote_offers" not in _tables(scratch_url) and _offers_seen(scratch_url) == seen


def test_offer_sets_survive_the_migration_both_ways(scratch_url):
    """0007 stores priced offers once per set (elements without ids: the view derives them from the quote's id);
    its downgrade puts each quote's offers back inline with those very ids."""
    from core.quotes.ids import new_quote_ids

    upgrade(scratch_url)
    quotes = [new_quote_ids(2) for _ in range(2)]
    offers = [{"rank": rank, "hotel_id": "H1", "supplier_code": "TST", "supplier_hotel_id": "t-1",
               "room_type_id": None, "room_type": "Double", "board": "RO", "net_amount": "150", "net_currency": "EUR",
               "platform_markup": "15", "platform_rule_id": None, "partner_markup": "0", "fx_rate": "1",
               "sell_exact": "165", "sell_amount": "165.00", "refundable": False, "nightly_net": ["150"],
               "cancellation_policy": []} for rank in range(2)]
    offer_set = uuid.uuid4()
    with psycopg.connect(scratch_url) as conn:
        conn.execute("INSERT INTO suppliers (code, name, protocol) VALUES ('TST', 'T', 'json')")
        conn.execute("INSERT INTO master_hotels (id, name, city, country) VALUES ('H1', 'Hotel', 'Porto', 'PT')")
        partner = conn.execute("INSERT INTO partners (name, credit_currency) VALUES ('P', 'EUR')"
                               " RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO quote_offer_sets (id, offers) VALUES (%s, %s)",
                     (offer_set, json.dumps(offers).encode()))
        for quote_id, _ in quotes:
            conn.execute("INSERT INTO quotes (id, partner_id, request, currency, expires_at, offer_set) VALUES"
                         " (%s, %s, %s, 'EUR', now(), %s)",
                         (quote_id, partner, json.dumps({"check_in": "2026-06-01", "check_out": "2026-06-02",
                                                         "rooms": 1}), offer_set))
    seen = _offers_seen(scratch_url)
    assert sorted(str(row[0]) for row in seen) == sorted(offer_id for _, ids in quotes for offer_id in ids)
    assert all(str(row[0])[:32] == str(row[1])[:32] for row in seen)  # each offer id names its quote
    downgrade(scratch_url, "0005_quote_offers_inline")
    assert "quote_offer_sets" not in _tables(scratch_url) and _offers_seen(scratch_url) == seen
    upgrade(scratch_url)
    assert _offers_seen(scratch_url) == seen


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
