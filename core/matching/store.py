"""Hotel mappings in PostgreSQL: incremental matching runs and the review queue.

Rules: only supplier hotels without a mapping, or whose content_hash changed since a *machine*
decision, are matched again; a mapping a person decided (decided_by <> 'machine') is never
overwritten. A "new" decision proposes a master hotel (source='supplier') built from the supplier record.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import audit
from core.matching.config import MatcherConfig
from core.matching.csvio import proposed_hotel_id
from core.matching.matcher import Matcher
from core.matching.records import CatalogHotel, MatchDecision, SupplierHotel


class ReviewError(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def load_catalog(conn: Connection) -> list[CatalogHotel]:
    rows = conn.execute(sa.text(
        "SELECT id, name, name_local, address, address_local, city, country, lat, lon, star, phone"
        " FROM master_hotels ORDER BY id")).fetchall()
    return [CatalogHotel(r.id, r.name, r.name_local, r.address, r.city, r.country, _f(r.lat), _f(r.lon), _f(r.star),
                         r.phone, r.address_local) for r in rows]


def _to_match(conn: Connection) -> list[Any]:
    return conn.execute(sa.text(
        "SELECT s.id, s.supplier_code, s.supplier_hotel_id, s.name, s.address, s.city, s.country, s.lat, s.lon,"
        " s.star, s.phone, s.content_hash"
        " FROM supplier_hotels s LEFT JOIN hotel_mappings m ON m.supplier_hotel = s.id"
        " WHERE m.id IS NULL OR (m.decided_by = 'machine' AND m.content_hash <> s.content_hash)"
        " ORDER BY s.id")).fetchall()


@dataclass
class RunSummary:
    matched: int
    per_decision: dict[str, int]
    per_supplier: dict[str, dict[str, int]]
    proposed_hotels: int
    skipped_human: int  # changed upstream since a person decided: left as the person decided


_UPSERT = sa.text("""
INSERT INTO hotel_mappings (supplier_hotel, master_hotel_id, decision, status, score, features, candidates,
                            content_hash, algorithm, decided_by, updated_at)
VALUES (:sh, :master, :decision, :status, :score, CAST(:features AS JSONB), CAST(:candidates AS JSONB), :hash,
        :algorithm, 'machine', now())
ON CONFLICT (supplier_hotel) DO UPDATE SET
    master_hotel_id = EXCLUDED.master_hotel_id, decision = EXCLUDED.decision, status = EXCLUDED.status,
    score = EXCLUDED.score, features = EXCLUDED.features, candidates = EXCLUDED.candidates,
    content_hash = EXCLUDED.content_hash, algorithm = EXCLUDED.algorithm, updated_at = now()
WHERE hotel_mappings.decided_by = 'machine'
""")

_PROPOSE = sa.text("""
INSERT INTO master_hotels (id, name, address, city, country, lat, lon, star, phone, source)
VALUES (:id, :name, :address, :city, :country, :lat, :lon, :star, :phone, 'supplier')
ON CONFLICT (id) DO NOTHING
""")


def _propose(conn: Connection, hotel_id: str, h: SupplierHotel) -> None:
    conn.execute(_PROPOSE, dict(id=hotel_id, name=h.name, address=h.address, city=h.city or "",
                                country=((h.country or "XX").strip().upper() + "XX")[:2],
                                lat=h.lat, lon=h.lon, star=h.star, phone=h.phone))


def run_matching(engine: Engine, config: MatcherConfig) -> RunSummary:
    """Match every new or changed supplier hotel; store decisions; propose master hotels for "new"."""
    with engine.connect() as conn:
        rows = _to_match(conn)
        human_kept = conn.execute(sa.text(
            "SELECT count(*) FROM supplier_hotels s JOIN hotel_mappings m ON m.supplier_hotel = s.id"
            " WHERE m.decided_by <> 'machine' AND m.content_hash <> s.content_hash")).scalar_one()
        if not rows:
            return RunSummary(0, {}, {}, 0, human_kept)
        catalog = load_catalog(conn)
    hotels = [SupplierHotel(r.supplier_code, r.supplier_hotel_id, r.name, r.address, r.city, r.country, _f(r.lat),
                            _f(r.lon), _f(r.star), r.phone) for r in rows]
    decisions = Matcher(catalog, config).match(hotels) if catalog else [
        MatchDecision(h.supplier_code, h.supplier_hotel_id, "new", None, 0.0, "empty catalog") for h in hotels]
    per_decision: Counter[str] = Counter()
    per_supplier: dict[str, Counter[str]] = {}
    proposed, skipped = 0, human_kept
    with engine.begin() as conn:
        for row, hotel, d in zip(rows, hotels, decisions, strict=True):
            master = d.hotel_id
            status = {"auto": "machine", "review": "pending_review", "new": "machine"}[d.decision]
            if d.decision == "new":
                master = proposed_hotel_id(d)
                _propose(conn, master, hotel)
                proposed += 1
            best = d.best
            result = conn.execute(_UPSERT, dict(
                sh=row.id, master=master, decision=d.decision, status=status, score=round(min(max(d.score, 0), 1), 4),
                features=json.dumps({"reason": d.reason, **(best.as_dict() if best else {})}),
                candidates=json.dumps([c.as_dict() for c in d.candidates]), hash=row.content_hash,
                algorithm=config.algorithm))
            if result.rowcount == 0:
                skipped += 1
                continue
            per_decision[d.decision] += 1
            per_supplier.setdefault(d.supplier_code, Counter())[d.decision] += 1
    return RunSummary(len(rows), dict(per_decision), {k: dict(v) for k, v in per_supplier.items()}, proposed, skipped)


# ------------------------------------------------------------------ review queue

def list_reviews(engine: Engine, limit: int = 50, offset: int = 0, supplier: str | None = None) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT m.id, m.score, m.features, m.candidates, m.created_at, s.supplier_code, s.supplier_hotel_id,"
            " s.name, s.address, s.city, s.country, s.lat, s.lon, s.star, s.phone"
            " FROM hotel_mappings m JOIN supplier_hotels s ON s.id = m.supplier_hotel"
            " WHERE m.status = 'pending_review' AND (CAST(:supplier AS TEXT) IS NULL OR s.supplier_code = :supplier)"
            " ORDER BY m.id LIMIT :limit OFFSET :offset"),
            dict(limit=limit, offset=offset, supplier=supplier)).fetchall()
        ids = {c["hotel_id"] for r in rows for c in r.candidates}
        names = dict(conn.execute(sa.text("SELECT id, name FROM master_hotels WHERE id = ANY(:ids)"),
                                  dict(ids=list(ids))).fetchall()) if ids else {}
    return [{
        "mapping_id": r.id, "score": float(r.score), "reason": (r.features or {}).get("reason"),
        "supplier_hotel": {"supplier_code": r.supplier_code, "supplier_hotel_id": r.supplier_hotel_id,
                           "name": r.name, "address": r.address, "city": r.city, "country": r.country,
                           "lat": _f(r.lat), "lon": _f(r.lon), "star": _f(r.star), "phone": r.phone},
        "candidates": [{**c, "name": names.get(c["hotel_id"])} for c in r.candidates],
    } for r in rows]


def _mapping(conn: Connection, mapping_id: int) -> Any:
    row = conn.execute(sa.text(
        "SELECT m.id, m.status, s.supplier_code, s.supplier_hotel_id, s.name, s.address, s.city, s.country,"
        " s.lat, s.lon, s.star, s.phone FROM hotel_mappings m JOIN supplier_hotels s ON s.id = m.supplier_hotel"
        " WHERE m.id = :id FOR UPDATE OF m"), dict(id=mapping_id)).fetchone()
    if row is None:
        raise ReviewError(404, "not_found", f"mapping {mapping_id} does not exist")
    return row


_VERBS = {"accepted": "accept", "rejected": "reject", "marked_new": "mark_new"}


def _decide(conn: Connection, mapping_id: int, status: str, master: str | None, who: str | audit.Actor) -> dict:
    # decided_by keeps naming where the decision came from (api:<name>, as before named staff)
    reviewer = f"{who.source}:{who.name}" if isinstance(who, audit.Actor) else who
    audit.record_by(conn, who, f"mapping.{_VERBS[status]}", f"hotel_mapping:{mapping_id}", None,
                    {"status": status, "hotel_id": master})
    conn.execute(sa.text(
        # a rejected automatic match is no longer "auto" (which would need a hotel): it becomes a review outcome
        "UPDATE hotel_mappings SET status = :status, master_hotel_id = :master, decided_by = :reviewer,"
        " decision = CASE WHEN CAST(:master AS TEXT) IS NULL AND decision = 'auto' THEN 'review' ELSE decision END,"
        " reviewer = :reviewer, reviewed_at = :now, updated_at = now() WHERE id = :id"),
        dict(status=status, master=master, reviewer=reviewer, now=datetime.now(UTC), id=mapping_id))
    return {"mapping_id": mapping_id, "status": status, "hotel_id": master, "decided_by": reviewer}


def accept(engine: Engine, mapping_id: int, hotel_id: str, reviewer: str | audit.Actor) -> dict:
    with engine.begin() as conn:
        _mapping(conn, mapping_id)
        if conn.execute(sa.text("SELECT 1 FROM master_hotels WHERE id = :id"), dict(id=hotel_id)).fetchone() is None:
            raise ReviewError(422, "unknown_hotel", f"hotel_id: master hotel {hotel_id!r} does not exist")
        return _decide(conn, mapping_id, "accepted", hotel_id, reviewer)


def reject(engine: Engine, mapping_id: int, reviewer: str | audit.Actor) -> dict:
    with engine.begin() as conn:
        _mapping(conn, mapping_id)
        return _decide(conn, mapping_id, "rejected", None, reviewer)


def mark_new(engine: Engine, mapping_id: int, reviewer: str | audit.Actor) -> dict:
    with engine.begin() as conn:
        row = _mapping(conn, mapping_id)
        hotel = SupplierHotel(row.supplier_code, row.supplier_hotel_id, row.name, row.address, row.city, row.country,
                              _f(row.lat), _f(row.lon), _f(row.star), row.phone)
        hotel_id = proposed_hotel_id(MatchDecision(row.supplier_code, row.supplier_hotel_id, "new", None, 0.0, ""))
        _propose(conn, hotel_id, hotel)
        return _decide(conn, mapping_id, "marked_new", hotel_id, reviewer)
