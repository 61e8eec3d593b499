"""Pricing rules as managed data: validated create / update / retire, each change versioned (the preview of
what a partner would pay is `core.pricing_preview`).

Every change writes a `pricing_rule_versions` row (who, when, the rule before and after) in the same
transaction as the change; the `pricing_changed` trigger then tells every API process to drop its cached
rules (`core.quotes.invalidation`), so new quotes price by the change within a second. Quotes and orders
keep the breakdown they were priced with: a change never reprices them.

Validation (a `RuleError` names the field): level platform|partner; markup_pct within
[MIN_PCT, MAX_PCT]; markup_fixed ≥ 0 with a three-letter fixed_currency the platform has rates for (or
its default currency); star and date ranges in order; and no other active rule of the same level and
priority that can match the same stay (the winner would depend on creation order).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import audit
from core.hotcache import normalise_city

MIN_PCT = Decimal(0)
MAX_PCT = Decimal(100)
LEVELS = ("platform", "partner")
FIELDS = ("level", "partner_id", "partner_tier", "supplier_code", "city", "star_min", "star_max", "date_from",
          "date_to", "markup_pct", "markup_fixed", "fixed_currency", "priority")
_COLUMNS = ("id, level, partner_id::text AS partner_id, partner_tier, supplier_code, city, star_min, star_max,"
            " date_from, date_to, markup_pct, markup_fixed, fixed_currency, priority, active, created_at,"
            " updated_at, retired_at")

# The embedded platform's default rule set: a platform margin, then a markup per partner tier.
DEFAULT_RULES = (
    {"level": "platform", "markup_pct": Decimal("8")},
    {"level": "partner", "partner_tier": "standard", "markup_pct": Decimal("5")},
    {"level": "partner", "partner_tier": "gold", "markup_pct": Decimal("3")},
    {"level": "partner", "partner_tier": "platinum", "markup_pct": Decimal("2")},
)


class RuleError(ValueError):
    def __init__(self, field: str, reason: str, status: int = 422) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.status = field, reason, status


def as_json(row: dict) -> dict:
    """A row with its decimals, dates and times as JSON strings."""
    out = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, dt.datetime | dt.date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def _decimal(values: dict, name: str) -> Decimal | None:
    value = values.get(name)
    if value is None or isinstance(value, Decimal):
        return value
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RuleError(name, "not a decimal number") from None
    if not number.is_finite():
        raise RuleError(name, "not a finite number")
    return number


def _date(values: dict, name: str) -> dt.date | None:
    value = values.get(name)
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise RuleError(name, "not a date (YYYY-MM-DD)") from None


def _normalised(values: dict, known_currencies: set[str]) -> dict:
    rule = {name: values.get(name) for name in FIELDS}
    if rule["level"] not in LEVELS:
        raise RuleError("level", f"must be one of {', '.join(LEVELS)}")
    for name in ("markup_pct", "markup_fixed", "star_min", "star_max"):
        rule[name] = _decimal(rule, name)
    for name in ("date_from", "date_to"):
        rule[name] = _date(rule, name)
    rule["markup_pct"] = rule["markup_pct"] if rule["markup_pct"] is not None else Decimal(0)
    rule["markup_fixed"] = rule["markup_fixed"] if rule["markup_fixed"] is not None else Decimal(0)
    if not MIN_PCT <= rule["markup_pct"] <= MAX_PCT:
        raise RuleError("markup_pct", f"must be between {MIN_PCT} and {MAX_PCT} percent")
    if rule["markup_pct"].as_tuple().exponent < -4:
        raise RuleError("markup_pct", "at most 4 decimal places")
    if rule["markup_fixed"] < 0:
        raise RuleError("markup_fixed", "must not be negative")
    currency = rule["fixed_currency"]
    if currency is not None:
        currency = rule["fixed_currency"] = str(currency).upper()
        if len(currency) != 3 or not currency.isalpha():
            raise RuleError("fixed_currency", "expected a three-letter ISO-4217 code")
        if currency not in known_currencies:
            raise RuleError("fixed_currency", f"the platform has no exchange rate for {currency}")
    if rule["markup_fixed"] and currency is None:
        raise RuleError("fixed_currency", "required with a fixed markup")
    for name in ("star_min", "star_max"):
        if rule[name] is not None and not Decimal(0) <= rule[name] <= Decimal(5):
            raise RuleError(name, "must be between 0 and 5")
    if rule["star_min"] is not None and rule["star_max"] is not None and rule["star_min"] > rule["star_max"]:
        raise RuleError("star_max", "must not be below star_min")
    if rule["date_from"] and rule["date_to"] and rule["date_from"] > rule["date_to"]:
        raise RuleError("date_to", "must not be before date_from")
    if rule["level"] == "platform" and (rule["partner_id"] or rule["partner_tier"]):
        raise RuleError("level", "a platform rule applies to every partner: name a partner only on a partner rule")
    try:
        rule["priority"] = int(rule["priority"] or 0)
    except (TypeError, ValueError):
        raise RuleError("priority", "not an integer") from None
    if rule["city"] is not None and not str(rule["city"]).strip():
        rule["city"] = None
    return rule


def _disjoint(a, b) -> bool:
    return a is not None and b is not None and a != b


def _ranges_disjoint(low_a, high_a, low_b, high_b) -> bool:
    return (high_a is not None and low_b is not None and high_a < low_b) or \
        (high_b is not None and low_a is not None and high_b < low_a)


def overlaps(a: dict, b: dict) -> bool:
    """Whether two rules of one level could both match the same stay."""
    if a["level"] != b["level"]:
        return False
    if _disjoint(a["partner_id"], b["partner_id"]) or _disjoint(a["partner_tier"], b["partner_tier"]):
        return False
    if _disjoint(a["supplier_code"], b["supplier_code"]):
        return False
    city_a = normalise_city(a["city"]) if a["city"] else None
    city_b = normalise_city(b["city"]) if b["city"] else None
    if _disjoint(city_a, city_b):
        return False
    return not (_ranges_disjoint(a["star_min"], a["star_max"], b["star_min"], b["star_max"])
                or _ranges_disjoint(a["date_from"], a["date_to"], b["date_from"], b["date_to"]))


def _known_currencies(conn, default_currency: str) -> set[str]:
    rows = conn.execute(sa.text("SELECT DISTINCT base_currency FROM fx_rates UNION SELECT DISTINCT quote_currency"
                                " FROM fx_rates")).scalars().all()
    return {default_currency.upper(), *(c.strip() for c in rows)}


def _check_references(conn, rule: dict) -> None:
    if rule["partner_id"] is not None:
        try:
            found = conn.execute(sa.text("SELECT 1 FROM partners WHERE id = CAST(:p AS uuid)"),
                                 {"p": str(rule["partner_id"])}).first()
        except sa.exc.DataError:
            raise RuleError("partner_id", "not a partner id (UUID)") from None
        if found is None:
            raise RuleError("partner_id", "no such partner")
    if rule["supplier_code"] is not None and conn.execute(
            sa.text("SELECT 1 FROM suppliers WHERE code = :c"), {"c": rule["supplier_code"]}).first() is None:
        raise RuleError("supplier_code", "no such supplier")


def _check_overlap(conn, rule: dict, rule_id: int | None) -> None:
    rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM pricing_rules WHERE active AND level = :level"
                                " AND priority = :priority AND id IS DISTINCT FROM :id"),
                        {"level": rule["level"], "priority": rule["priority"], "id": rule_id}).mappings().all()
    for other in rows:
        if overlaps(rule, dict(other)):
            raise RuleError("priority", f"overlaps active rule {other['id']} of the same level and priority "
                                        f"{rule['priority']}: give one a different priority or narrow it", 409)


def _version(conn, rule_id: int, action: str, who: str | audit.Actor, before: dict | None, after: dict) -> None:
    conn.execute(sa.text("INSERT INTO pricing_rule_versions (rule_id, action, changed_by, before, after)"
                         " VALUES (:id, :action, :who, CAST(:before AS jsonb), CAST(:after AS jsonb))"),
                 {"id": rule_id, "action": action, "who": audit.name_of(who),
                  "before": json.dumps(as_json(before)) if before else None, "after": json.dumps(as_json(after))})
    audit.record_by(conn, who, f"pricing_rule.{action}", f"pricing_rule:{rule_id}", as_json(before) if before else None,
                    as_json(after))


def _row(conn, rule_id: int, lock: bool = False) -> dict | None:
    row = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM pricing_rules WHERE id = :id"
                               + (" FOR UPDATE" if lock else "")), {"id": rule_id}).mappings().first()
    return dict(row) if row else None


def list_rules(engine: Engine, include_retired: bool = False) -> list[dict]:
    where = "" if include_retired else " WHERE active"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM pricing_rules{where} ORDER BY level DESC, priority DESC,"
                                    " id")).mappings().all()
    return [as_json(dict(row)) for row in rows]


def get_rule(engine: Engine, rule_id: int) -> dict:
    with engine.connect() as conn:
        row = _row(conn, rule_id)
    if row is None:
        raise RuleError("id", f"no pricing rule {rule_id}", 404)
    return as_json(row)


def create_rule(engine: Engine, values: dict, who: str, default_currency: str = "CNY") -> dict:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise RuleError(sorted(unknown)[0], "unknown field")
    with engine.begin() as conn:
        conn.execute(sa.text("LOCK TABLE pricing_rules IN SHARE ROW EXCLUSIVE MODE"))  # overlap check vs. writers
        rule = _normalised(values, _known_currencies(conn, default_currency))
        _check_references(conn, rule)
        _check_overlap(conn, rule, None)
        rule_id = conn.execute(sa.text(
            "INSERT INTO pricing_rules (" + ", ".join(FIELDS) + ") VALUES ("
            + ", ".join(f"CAST(:{f} AS uuid)" if f == "partner_id" else f":{f}" for f in FIELDS) + ") RETURNING id"),
            rule).scalar_one()
        after = _row(conn, rule_id)
        _version(conn, rule_id, "create", who, None, after)
    return as_json(after)


def update_rule(engine: Engine, rule_id: int, changes: dict, who: str, default_currency: str = "CNY") -> dict:
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise RuleError(sorted(unknown)[0], "unknown field")
    with engine.begin() as conn:
        conn.execute(sa.text("LOCK TABLE pricing_rules IN SHARE ROW EXCLUSIVE MODE"))
        before = _row(conn, rule_id, lock=True)
        if before is None:
            raise RuleError("id", f"no pricing rule {rule_id}", 404)
        if not before["active"]:
            raise RuleError("id", f"pricing rule {rule_id} is retired; create a new rule instead", 409)
        rule = _normalised({**{f: before[f] for f in FIELDS}, **changes}, _known_currencies(conn, default_currency))
        _check_references(conn, rule)
        _check_overlap(conn, rule, rule_id)
        conn.execute(sa.text(
            "UPDATE pricing_rules SET " + ", ".join(
                f"{f} = CAST(:{f} AS uuid)" if f == "partner_id" else f"{f} = :{f}" for f in FIELDS)
            + ", updated_at = now() WHERE id = :id"), {**rule, "id": rule_id})
        after = _row(conn, rule_id)
        _version(conn, rule_id, "update", who, before, after)
    return as_json(after)


def retire_rule(engine: Engine, rule_id: int, who: str) -> dict:
    with engine.begin() as conn:
        before = _row(conn, rule_id, lock=True)
        if before is None:
            raise RuleError("id", f"no pricing rule {rule_id}", 404)
        if not before["active"]:
            raise RuleError("id", f"pricing rule {rule_id} is already retired", 409)
        conn.execute(sa.text("UPDATE pricing_rules SET active = false, retired_at = now(), updated_at = now()"
                             " WHERE id = :id"), {"id": rule_id})
        after = _row(conn, rule_id)
        _version(conn, rule_id, "retire", who, before, after)
    return as_json(after)


def rule_history(engine: Engine, rule_id: int) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id AS version, rule_id, action, changed_by, changed_at, before, after"
                                    " FROM pricing_rule_versions WHERE rule_id = :id ORDER BY id"),
                            {"id": rule_id}).mappings().all()
    return [as_json(dict(row)) for row in rows]


def seed_default_rules(engine: Engine, who: str | audit.Actor = "platform-default") -> int:
    """The default rule set, once: only into a platform that has never had a rule. How many were added."""
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM pricing_rules)")).scalar():
            return 0
    for values in DEFAULT_RULES:
        create_rule(engine, dict(values), who)
    return len(DEFAULT_RULES)
