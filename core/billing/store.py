"""Billing's shared SQL: its one error type, billing profiles and tax rates, the partner tree, the journal."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import audit
from core.fx import FxTable, FxUnavailable
from core.money import exponent

ZERO = Decimal(0)
RATE_PLACES = Decimal("0.00000001")  # NUMERIC(18,8): the rate stored is the rate used


class BillingError(Exception):
    """A refusal: `code` is not_found | conflict | invalid; `field` names the input at fault."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def rounded(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(exponent(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Profile:
    partner_id: str
    name: str
    entity_code: str
    country: str
    currency: str
    terms_days: int
    billing_name: str
    billing_address: str


def partner_key(value: str | None, field: str = "partner_id") -> str:
    """A partner id as the database takes it, or a BillingError naming the field (ids come from forms and CLIs)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise BillingError("invalid", f"{field}: not a partner id (UUID): {value!r}", field) from None


def profile(conn: Connection, partner_id: str, settings) -> Profile:
    """The partner's billing profile, or the defaults (BILLING_ENTITY, BILLING_COUNTRY, the credit currency)."""
    partner_id = partner_key(partner_id)
    row = conn.execute(sa.text(
        "SELECT p.id::text AS id, p.name, p.parent_id, p.credit_currency, b.entity_code, b.country, b.billing_currency,"
        " b.payment_terms_days, b.billing_name, b.billing_address FROM partners p"
        " LEFT JOIN partner_billing b ON b.partner_id = p.id WHERE p.id = CAST(:id AS uuid)"),
        {"id": partner_id}).mappings().first()
    if row is None:
        raise BillingError("not_found", f"no partner {partner_id}", "partner_id")
    return Profile(row["id"], row["name"], row["entity_code"] or settings.billing_entity,
                   row["country"] or settings.billing_country, row["billing_currency"] or row["credit_currency"],
                   row["payment_terms_days"] if row["payment_terms_days"] is not None
                   else settings.billing_payment_terms_days,
                   row["billing_name"] or row["name"], row["billing_address"] or "")


def set_profile(engine: Engine, partner_id: str, settings, *, country: str | None = None,
                currency: str | None = None, terms_days: int | None = None, entity: str | None = None,
                name: str | None = None, address: str | None = None, who: str | audit.Actor | None = None) -> Profile:
    """Create or change a partner's billing profile (unchanged fields keep their value or default); a staff
    `who` is audited."""
    for value, field, size in ((country, "country", 2), (currency, "currency", 3)):
        if value is not None and (len(value) != size or not value.isalpha() or not value.isupper()):
            raise BillingError("invalid", f"{field}: expected {size} capital letters, got {value!r}", field)
    if terms_days is not None and not 0 <= terms_days <= 365:
        raise BillingError("invalid", "terms_days: between 0 and 365", "terms_days")
    partner_id = partner_key(partner_id)
    with engine.begin() as conn:
        if not _is_root(conn, partner_id):
            raise BillingError("invalid", "a sub-agent is billed through its parent: set the parent's profile",
                               "partner_id")
        current = profile(conn, partner_id, settings)
        entity = entity or current.entity_code
        if conn.execute(sa.text("SELECT 1 FROM billing_entities WHERE code = :c"), {"c": entity}).first() is None:
            raise BillingError("invalid", f"entity: no billing entity {entity!r}", "entity")
        conn.execute(sa.text(
            "INSERT INTO partner_billing (partner_id, entity_code, country, billing_currency, payment_terms_days,"
            " billing_name, billing_address) VALUES (CAST(:id AS uuid), :entity, :country, :currency, :terms, :name,"
            " :address) ON CONFLICT (partner_id) DO UPDATE SET entity_code = EXCLUDED.entity_code,"
            " country = EXCLUDED.country, billing_currency = EXCLUDED.billing_currency,"
            " payment_terms_days = EXCLUDED.payment_terms_days, billing_name = EXCLUDED.billing_name,"
            " billing_address = EXCLUDED.billing_address, updated_at = now()"),
            {"id": partner_id, "entity": entity, "country": country or current.country,
             "currency": currency or current.currency,
             "terms": current.terms_days if terms_days is None else terms_days,
             "name": name if name is not None else current.billing_name,
             "address": address if address is not None else current.billing_address})
        changed = profile(conn, partner_id, settings)
        if who is not None:
            audit.record_by(conn, who, "billing.set_profile", f"partner:{partner_id}", current.__dict__,
                            changed.__dict__)
        return changed


def _is_root(conn: Connection, partner_id: str) -> bool:
    row = conn.execute(sa.text("SELECT parent_id FROM partners WHERE id = CAST(:id AS uuid)"),
                       {"id": partner_id}).first()
    if row is None:
        raise BillingError("not_found", f"no partner {partner_id}", "partner_id")
    return row.parent_id is None


ROOTS_SQL = (
    # Every partner with the top of its tree: sub-agents are billed through their parent.
    "WITH RECURSIVE tree AS (SELECT id, id AS root FROM partners WHERE parent_id IS NULL"
    " UNION ALL SELECT p.id, t.root FROM partners p JOIN tree t ON p.parent_id = t.id)"
)


def root_of(conn: Connection, partner_id: str) -> str:
    row = conn.execute(sa.text(f"{ROOTS_SQL} SELECT root::text FROM tree WHERE id = CAST(:id AS uuid)"),
                       {"id": partner_id}).first()
    if row is None:
        raise BillingError("not_found", f"no partner {partner_id}", "partner_id")
    return row.root


def tax_rate(conn: Connection, country: str) -> tuple[Decimal, str]:
    row = conn.execute(sa.text("SELECT rate, label FROM billing_tax_rates WHERE country = :c"), {"c": country}).first()
    if row is None:
        raise BillingError("invalid", f"no tax rate for country {country}: set one with"
                                      f" `hotelctl billing tax set {country} RATE`", "country")
    return row.rate, row.label


def set_tax_rate(engine: Engine, country: str, rate: Decimal, label: str, who: str | audit.Actor) -> dict:
    """Set (or replace) a country's tax rate; a staff `who` is audited."""
    if len(country) != 2 or not country.isalpha():
        raise BillingError("invalid", f"country: a two-letter ISO code, got {country!r}", "country")
    if not (rate.is_finite() and ZERO <= rate < 1):
        raise BillingError("invalid", "rate: a fraction from 0 up to (not including) 1, e.g. 0.06", "rate")
    after = {"country": country.upper(), "rate": str(rate), "label": label}
    with engine.begin() as conn:
        before = conn.execute(sa.text("SELECT rate, label FROM billing_tax_rates WHERE country = :c FOR UPDATE"),
                              {"c": country.upper()}).first()
        conn.execute(sa.text(
            "INSERT INTO billing_tax_rates (country, rate, label, updated_by) VALUES (:c, :r, :l, :by)"
            " ON CONFLICT (country) DO UPDATE SET rate = EXCLUDED.rate, label = EXCLUDED.label,"
            " updated_by = EXCLUDED.updated_by, updated_at = now()"),
            {"c": country.upper(), "r": rate, "l": label, "by": audit.name_of(who)})
        audit.record_by(conn, who, "billing.set_tax_rate", f"tax_rate:{country.upper()}",
                        None if before is None else {"rate": str(before.rate), "label": before.label}, after)
    return after


def tax_rates(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT country, rate, label FROM billing_tax_rates ORDER BY country"))
        return [{"country": r.country, "rate": str(r.rate), "label": r.label} for r in rows]


def fx_table(conn: Connection, on: dt.date, pivot: str) -> FxTable:
    """The newest rate of each pair dated on or before `on` (the rates in force when a document is issued)."""
    rows = conn.execute(sa.text(
        "SELECT DISTINCT ON (base_currency, quote_currency) base_currency, quote_currency, rate FROM fx_rates"
        " WHERE as_of <= :on ORDER BY base_currency, quote_currency, as_of DESC"), {"on": on})
    return FxTable({(r.base_currency, r.quote_currency): r.rate for r in rows}, pivot)


def conversion_rate(table: FxTable, source: str, target: str) -> Decimal:
    try:
        return table.rate(source, target).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    except FxUnavailable:
        raise BillingError("invalid", f"no exchange rate from {source} to {target} on or before the issue date",
                           "currency") from None


def post(conn: Connection, on: dt.date, entries: list[tuple[str, Decimal, Decimal, str, str]], *,
         document_id: str | None = None, payment_id: int | None = None) -> None:
    """Journal entries (account, debit, credit, currency, memo) of one document or payment; they must balance."""
    balance: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for _account, debit, credit, currency, _memo in entries:
        balance[currency] += debit - credit
    if any(balance.values()):
        raise RuntimeError(f"unbalanced journal entries: {dict(balance)}")
    conn.execute(sa.text(
        "INSERT INTO billing_journal (posted_on, document_id, payment_id, account, debit, credit, currency, memo)"
        " VALUES (:on, CAST(:doc AS uuid), :pay, :account, :debit, :credit, :currency, :memo)"),
        [{"on": on, "doc": document_id, "pay": payment_id, "account": a, "debit": d, "credit": c, "currency": cur,
          "memo": m} for a, d, c, cur, m in entries if d or c])


def journal_balance(conn: Connection) -> dict[str, tuple[Decimal, Decimal]]:
    """Per currency: total debits and total credits of the whole billing journal."""
    rows = conn.execute(sa.text(
        "SELECT currency, COALESCE(sum(debit), 0) AS debit, COALESCE(sum(credit), 0) AS credit"
        " FROM billing_journal GROUP BY currency ORDER BY currency"))
    return {r.currency: (r.debit, r.credit) for r in rows}


def lock_partner(conn: Connection, partner_id: str) -> None:
    """Serialises whatever moves money on one partner's account (issuing, crediting, paying, allocating)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('billing-partner:' || :p))"), {"p": partner_id})


def receivable_account(partner_id: str) -> str:
    return f"accounts_receivable:partner:{partner_id}"
