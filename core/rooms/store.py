"""Room mappings in PostgreSQL: incremental runs, the review queue, and what the quote engine reads.

A run regroups only the master hotels whose rooms changed (a room new, renamed, its occupancy changed, moved to
another hotel, or gone): grouping is per hotel, so the whole hotel is decided again. Rows a person decided
(decided_by <> 'machine') are never overwritten: their names still inform the grouping of the others, a room an
operator accepted or said is the same as another follows that room's group, a renamed room keeps the person's
group, and only a room moved to another master hotel is decided again. A room no longer
of a sold hotel loses its mapping.
Only rooms of hotels that are sold are mapped (the hot cache's rule: an automatic mapping not rejected, or an
accepted one).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import audit
from core.matching.store import ReviewError
from core.rooms.grouping import RoomInput, group_hotel

_CURRENT = sa.text("""
SELECT rt.id, rt.room_code, rt.name, rt.max_occupancy, sh.supplier_code, sh.supplier_hotel_id, m.master_hotel_id
FROM room_types rt
JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel
JOIN hotel_mappings m ON m.supplier_hotel = sh.id
WHERE m.master_hotel_id IS NOT NULL
  AND ((m.decision = 'auto' AND m.status NOT IN ('rejected', 'marked_new')) OR m.status = 'accepted')
""")

_UPSERT = sa.text("""
INSERT INTO room_mappings (room_type_id, master_hotel_id, supplier_code, supplier_hotel_id, supplier_room_code,
                           supplier_name, room_group, room_class, bed_type, name_en, view, smoking, score, decision,
                           status, reason, input_hash)
VALUES (:room_type_id, :master, :supplier_code, :supplier_hotel_id, :room_code, :name, :group, :room_class,
        :bed_type, :name_en, :view, :smoking, :score, :decision, :status, :reason, :hash)
ON CONFLICT (room_type_id) DO UPDATE SET
    master_hotel_id = EXCLUDED.master_hotel_id, supplier_name = EXCLUDED.supplier_name,
    room_group = EXCLUDED.room_group, room_class = EXCLUDED.room_class, bed_type = EXCLUDED.bed_type,
    name_en = EXCLUDED.name_en, view = EXCLUDED.view, smoking = EXCLUDED.smoking, score = EXCLUDED.score,
    decision = EXCLUDED.decision, status = EXCLUDED.status, reason = EXCLUDED.reason,
    input_hash = EXCLUDED.input_hash, updated_at = now()
WHERE room_mappings.decided_by = 'machine'
""")


# a room an operator said is the same as another follows that room's group when the machine renames it
_FOLLOW = sa.text("""
UPDATE room_mappings h SET room_group = p.room_group, room_class = p.room_class, bed_type = p.bed_type,
                           name_en = p.name_en, updated_at = now()
FROM room_mappings p
WHERE h.same_as = p.id AND h.decided_by <> 'machine' AND h.master_hotel_id = ANY(:hotels)
  AND p.master_hotel_id = h.master_hotel_id AND h.room_group <> p.room_group
""")


def _hash(master: str, name: str, occupancy: int) -> str:
    return hashlib.sha256(f"{master}\x1f{name}\x1f{occupancy}".encode()).hexdigest()[:32]


@dataclass
class RoomMappingSummary:
    rooms: int = 0                 # rooms of sold hotels
    hotels_regrouped: int = 0
    written: int = 0
    per_decision: dict[str, int] = field(default_factory=dict)
    per_class: dict[str, int] = field(default_factory=dict)
    groups: int = 0                # room groups of the regrouped hotels
    multi_supplier_groups: int = 0  # of those, sold by two suppliers or more
    kept_human: int = 0            # a person's decision kept over a machine one
    removed: int = 0               # rooms no longer of a sold hotel

    def metadata(self) -> dict[str, Any]:
        return {"rooms": self.rooms, "hotels_regrouped": self.hotels_regrouped, "written": self.written,
                "auto": self.per_decision.get("auto", 0), "review": self.per_decision.get("review", 0),
                "room_groups": self.groups, "multi_supplier_groups": self.multi_supplier_groups,
                "kept_human_decisions": self.kept_human, "removed": self.removed, "per_class": dict(self.per_class)}


def run_room_mapping(engine: Engine, full: bool = False) -> RoomMappingSummary:
    """Group the rooms of every hotel whose rooms changed since the last run (every hotel with `full`)."""
    summary = RoomMappingSummary()
    with engine.connect() as conn:
        current = conn.execute(_CURRENT).fetchall()
        stored = {r.room_type_id: r for r in conn.execute(sa.text(
            "SELECT room_type_id, master_hotel_id, input_hash, decided_by FROM room_mappings")).fetchall()}
    summary.rooms = len(current)
    by_hotel: dict[str, list[Any]] = defaultdict(list)
    changed: set[str] = set()
    for row in current:
        by_hotel[row.master_hotel_id].append(row)
        old = stored.get(row.id)
        if full or old is None or old.input_hash != _hash(row.master_hotel_id, row.name, row.max_occupancy):
            changed.add(row.master_hotel_id)
            if old is not None and old.master_hotel_id != row.master_hotel_id:
                changed.add(old.master_hotel_id)
    current_ids = {row.id for row in current}
    gone = [r for r in stored.values() if r.room_type_id not in current_ids]
    changed.update(r.master_hotel_id for r in gone)
    summary.hotels_regrouped = len(changed)
    per_decision: Counter[str] = Counter()
    per_class: Counter[str] = Counter()
    with engine.begin() as conn:
        if gone:
            conn.execute(sa.text("DELETE FROM room_mappings WHERE room_type_id = ANY(:ids)"),
                         dict(ids=[r.room_type_id for r in gone]))
        summary.removed = len(gone)
        params: list[dict] = []
        renamed: list[dict] = []
        released: list[int] = []
        for master in sorted(changed):
            rows = sorted(by_hotel.get(master, []), key=lambda r: (r.supplier_code, r.room_code, r.id))
            if not rows:
                continue
            decisions = group_hotel(master, [RoomInput(r.supplier_code, master, r.room_code, r.name, None,
                                                       r.max_occupancy) for r in rows])
            groups: dict[str, set[str]] = defaultdict(set)
            for row, d in zip(rows, decisions, strict=True):
                groups[d.room_group].add(row.supplier_code)
                old = stored.get(row.id)
                digest = _hash(master, row.name, row.max_occupancy)
                if old is not None and old.decided_by != "machine":
                    if old.master_hotel_id == master:
                        summary.kept_human += 1
                        if old.input_hash != digest:  # renamed: the person's group stays, the name is new
                            renamed.append(dict(id=row.id, name=row.name, hash=digest))
                        continue
                    released.append(row.id)  # decided for another hotel: the machine decides again
                per_decision[d.decision] += 1
                per_class[d.room_class] += 1
                params.append(dict(
                    room_type_id=row.id, master=master, supplier_code=row.supplier_code,
                    supplier_hotel_id=row.supplier_hotel_id, room_code=row.room_code, name=row.name,
                    group=d.room_group, room_class=d.room_class, bed_type=d.bed_type, name_en=d.name_en,
                    view=d.view, smoking=d.smoking, score=d.score, decision=d.decision,
                    status="machine" if d.decision == "auto" else "pending_review", reason=d.reason,
                    hash=digest))
            summary.groups += len(groups)
            summary.multi_supplier_groups += sum(len(s) > 1 for s in groups.values())
        if released:
            conn.execute(sa.text("UPDATE room_mappings SET decided_by = 'machine' WHERE room_type_id = ANY(:ids)"),
                         dict(ids=released))
        if renamed:
            conn.execute(sa.text("UPDATE room_mappings SET supplier_name = :name, input_hash = :hash,"
                                 " updated_at = now() WHERE room_type_id = :id"), renamed)
        if params:
            conn.execute(_UPSERT, params)
        if changed:
            conn.execute(_FOLLOW, dict(hotels=sorted(changed)))
        summary.written = len(params)
    summary.per_decision, summary.per_class = dict(per_decision), dict(per_class)
    return summary


def unmapped_rooms(conn: Connection) -> int:
    """Rooms of sold hotels without a room mapping."""
    return int(conn.execute(sa.text(
        f"SELECT count(*) FROM ({_CURRENT.text}) c LEFT JOIN room_mappings rm ON rm.room_type_id = c.id"
        " WHERE rm.id IS NULL")).scalar_one())


# ------------------------------------------------------------------ what the quote engine reads

@dataclass(frozen=True, slots=True)
class RoomType:
    room_type_id: int
    master_hotel_id: str
    supplier_code: str
    supplier_hotel_id: str
    supplier_room_code: str
    room_group: str       # equal ⇔ the same product (within the hotel; the hotel id is part of it)
    room_class: str
    bed_type: str
    name_en: str          # normalised English name ("Deluxe King Room, Sea View")
    name_local: str       # the supplier's own name
    score: float
    decision: str         # auto | review
    status: str           # machine | pending_review | accepted | overridden


def room_types_for(engine: Engine | Connection, master_hotel_ids: Iterable[str]) -> dict[int, RoomType]:
    """Every mapped supplier room of these master hotels, by room_types.id (one indexed query)."""
    ids = list(dict.fromkeys(master_hotel_ids))
    if not ids:
        return {}
    query = sa.text(
        "SELECT room_type_id, master_hotel_id, supplier_code, supplier_hotel_id, supplier_room_code, room_group,"
        " room_class, bed_type, name_en, supplier_name, score, decision, status"
        " FROM room_mappings WHERE master_hotel_id = ANY(:ids)")

    def read(conn: Connection) -> dict[int, RoomType]:
        return {r.room_type_id: RoomType(r.room_type_id, r.master_hotel_id, r.supplier_code, r.supplier_hotel_id,
                                         r.supplier_room_code, r.room_group, r.room_class, r.bed_type, r.name_en,
                                         r.supplier_name, float(r.score), r.decision, r.status)
                for r in conn.execute(query, dict(ids=ids))}

    if isinstance(engine, Connection):
        return read(engine)
    with engine.connect() as conn:
        return read(conn)


# ------------------------------------------------------------------ review queue

def list_room_reviews(engine: Engine, limit: int = 50, offset: int = 0, supplier: str | None = None) -> list[dict]:
    """Pending room mappings, each with the groups of its hotel it could belong to."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, master_hotel_id, supplier_code, supplier_hotel_id, supplier_room_code, supplier_name,"
            " room_group, room_class, bed_type, name_en, score, reason FROM room_mappings"
            " WHERE status = 'pending_review' AND (CAST(:supplier AS TEXT) IS NULL OR supplier_code = :supplier)"
            " ORDER BY id LIMIT :limit OFFSET :offset"), dict(limit=limit, offset=offset, supplier=supplier)).fetchall()
        hotels = list({r.master_hotel_id for r in rows})
        peers: dict[str, dict[str, dict]] = defaultdict(dict)
        for p in conn.execute(sa.text(
                "SELECT id, master_hotel_id, room_group, name_en, supplier_code, supplier_name FROM room_mappings"
                " WHERE master_hotel_id = ANY(:ids) ORDER BY id"), dict(ids=hotels)) if hotels else []:
            group = peers[p.master_hotel_id].setdefault(p.room_group, {"room_group": p.room_group,
                                                                        "name_en": p.name_en, "rooms": []})
            group["rooms"].append({"mapping_id": p.id, "supplier_code": p.supplier_code, "name": p.supplier_name})
    return [{
        "mapping_id": r.id, "hotel_id": r.master_hotel_id, "score": float(r.score), "reason": r.reason,
        "room": {"supplier_code": r.supplier_code, "supplier_hotel_id": r.supplier_hotel_id,
                 "supplier_room_code": r.supplier_room_code, "name": r.supplier_name},
        "proposed": {"room_group": r.room_group, "room_class": r.room_class, "bed_type": r.bed_type,
                     "name_en": r.name_en},
        "hotel_groups": list(peers[r.master_hotel_id].values()),
    } for r in rows]


def _room_mapping(conn: Connection, mapping_id: int) -> Any:
    row = conn.execute(sa.text(
        "SELECT id, master_hotel_id, supplier_code, supplier_room_code, room_group FROM room_mappings"
        " WHERE id = :id FOR UPDATE"), dict(id=mapping_id)).fetchone()
    if row is None:
        raise ReviewError(404, "not_found", f"room mapping {mapping_id} does not exist")
    return row


def _set(conn: Connection, mapping_id: int, status: str, who: str | audit.Actor, verb: str, **values: Any) -> dict:
    # decided_by keeps naming where the decision came from (api:<name>, cli:<name>)
    reviewer = f"{who.source}:{who.name}" if isinstance(who, audit.Actor) else who
    assignments = "".join(f", {column} = :{column}" for column in values)
    conn.execute(sa.text(
        f"UPDATE room_mappings SET status = :status, decided_by = :reviewer, reviewer = :reviewer,"
        f" reviewed_at = :now, updated_at = now(){assignments} WHERE id = :id"),
        dict(status=status, reviewer=reviewer, now=datetime.now(UTC), id=mapping_id, **values))
    row = conn.execute(sa.text("SELECT room_group, room_class, bed_type, name_en FROM room_mappings WHERE id = :id"),
                       dict(id=mapping_id)).one()
    result = {"mapping_id": mapping_id, "status": status, "room_group": row.room_group, "room_class": row.room_class,
              "bed_type": row.bed_type, "name_en": row.name_en, "decided_by": reviewer}
    audit.record_by(conn, who, f"room_mapping.{verb}", f"room_mapping:{mapping_id}", None,
                    {key: value for key, value in result.items() if key != "decided_by"})
    return result


def accept_room(engine: Engine, mapping_id: int, reviewer: str | audit.Actor) -> dict:
    """The proposed group is right: the room stays with the rooms it is grouped with now."""
    with engine.begin() as conn:
        row = _room_mapping(conn, mapping_id)
        peer = conn.execute(sa.text(
            "SELECT min(id) FROM room_mappings WHERE master_hotel_id = :hotel AND room_group = :group AND id <> :id"),
            dict(hotel=row.master_hotel_id, group=row.room_group, id=mapping_id)).scalar_one()
        return _set(conn, mapping_id, "accepted", reviewer, "accept", same_as=peer)


def assign_room(engine: Engine, mapping_id: int, same_as: int, reviewer: str | audit.Actor) -> dict:
    """This room is the same product as the room of mapping `same_as` (of the same hotel)."""
    with engine.begin() as conn:
        row = _room_mapping(conn, mapping_id)
        if same_as == mapping_id:
            raise ReviewError(422, "same_mapping", "same_as: name another room mapping than this one")
        other = conn.execute(sa.text(
            "SELECT master_hotel_id, room_group, room_class, bed_type, name_en FROM room_mappings WHERE id = :id"),
            dict(id=same_as)).fetchone()
        if other is None:
            raise ReviewError(422, "unknown_mapping", f"same_as: room mapping {same_as} does not exist")
        if other.master_hotel_id != row.master_hotel_id:
            raise ReviewError(422, "other_hotel", f"same_as: room mapping {same_as} is of hotel "
                                                  f"{other.master_hotel_id}, not {row.master_hotel_id}")
        return _set(conn, mapping_id, "overridden", reviewer, "assign", room_group=other.room_group, same_as=same_as,
                    room_class=other.room_class, bed_type=other.bed_type, name_en=other.name_en)


def separate_room(engine: Engine, mapping_id: int, reviewer: str | audit.Actor) -> dict:
    """This room is a product of its own: no other supplier's room is the same."""
    with engine.begin() as conn:
        row = _room_mapping(conn, mapping_id)
        group = f"{row.master_hotel_id}:own-{row.supplier_code}.{row.supplier_room_code}"
        return _set(conn, mapping_id, "overridden", reviewer, "separate", room_group=group, same_as=None)
