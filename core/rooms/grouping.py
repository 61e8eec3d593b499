"""The rooms of one hotel → room groups (one per product), each row with a score and auto/review.

1. Rows whose names say the same thing (kind, tier, bed, view, features, bedrooms, subtype) form a cluster.
2. A cluster that leaves something unsaid ("Deluxe Room", "豪华大床房" with its bed size unstated, "Deluxe King"
   without the view) joins the one cluster of the hotel that says more and agrees with everything it does
   say, unless that cluster already holds a room of the same supplier (a supplier selling "Deluxe Room" and
   "Deluxe King" sells two products). With two or more such clusters it is ambiguous: its own group, review.
3. A supplier with two rows in one group that differ in words the lexicon does not know ("Grand Deluxe
   King" beside "Deluxe King") splits the group by those words; other suppliers' rows follow the closest
   (rapidfuzz token-set ratio) or go to review.

Views split products (sea view and city view are two products); smoking does not; board and occupancy are
not read as the room at all. A row's score is its parse confidence times its grouping confidence; `auto`
from AUTO_THRESHOLD.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from core.rooms.parse import RoomParse, bed_type, english_name, parse_room, room_class

AUTO_THRESHOLD = 0.7
_HAN = re.compile(r"[\u3400-\u9fff]")
PARALLEL_FROM = 20_000  # rooms; below this, forking costs more than it saves


@dataclass(frozen=True, slots=True)
class RoomInput:
    supplier_code: str
    hotel_id: str
    supplier_room_code: str
    room_name: str
    board: str | None = None
    max_occupancy: int | None = None


@dataclass(frozen=True, slots=True)
class RoomDecision:
    supplier_code: str
    hotel_id: str
    supplier_room_code: str
    room_group: str
    room_class: str
    bed_type: str
    score: float
    decision: str  # auto | review
    name_en: str
    view: str | None
    smoking: str | None
    reason: str


# (kind, subtype, tier, bed, view, features, bedrooms)
Key = tuple[str, str | None, str | None, str | None, str | None, frozenset[str], int | None]


def _key(p: RoomParse) -> Key:
    # a room whose name states no class ("King Room", "Double") is the standard one
    tier = p.tier or ("standard" if p.kind == "room" and (p.bed or p.view) else None)
    return (p.kind, p.subtype, tier, p.bed, p.view, p.features, p.bedrooms)


def _bed_rank(bed: str | None) -> int:
    return 0 if bed is None else 1 if bed == "double" else 2


def _specificity(k: Key) -> int:
    return (k[2] is not None) + _bed_rank(k[3]) + (k[4] is not None) + len(k[5]) + (k[6] is not None)


def _bed_fits(less: str | None, more: str | None) -> bool:
    return less is None or less == more or (less == "double" and more in ("king", "queen"))


def _fits(less: Key, more: Key) -> bool:
    """`more` says everything `less` says, and more."""
    return (less != more and less[0] == more[0] and less[1] == more[1] and less[2] in (None, more[2])
            and _bed_fits(less[3], more[3]) and less[4] in (None, more[4]) and less[5] == more[5]
            and less[6] in (None, more[6]))


def _slug(k: Key) -> str:
    kind, subtype, tier, bed, view, features, bedrooms = k
    parts = [kind, subtype or "", tier or "any", bed or "anybed", view or "", *sorted(features),
             f"{bedrooms}br" if bedrooms else ""]
    return "-".join(p for p in parts if p)


def _decide(p: RoomParse, confidence: float) -> tuple[float, str]:
    score = round(max(min(p.confidence * confidence, 1.0), 0.0), 4)
    return score, "auto" if score >= AUTO_THRESHOLD else "review"


class _Hotel:
    """Union-find over one hotel's clusters."""

    def __init__(self, rows: list[tuple[RoomInput, RoomParse]]) -> None:
        self.rows = rows
        self.members: dict[Key, list[int]] = defaultdict(list)
        for i, (_, p) in enumerate(rows):
            self.members[_key(p)].append(i)
        self.parent = {k: k for k in self.members}
        self.suppliers = {k: {rows[i][0].supplier_code for i in m} for k, m in self.members.items()}
        self.confidence = dict.fromkeys(self.members, 1.0)
        self.reason = dict.fromkeys(self.members, "named alike")

    def root(self, k: Key) -> Key:
        while self.parent[k] != k:
            k = self.parent[k]
        return k

    def merge_unsaid(self) -> None:
        keys = sorted(self.members, key=_specificity, reverse=True)
        for less in keys:
            roots = {self.root(more) for more in keys if _fits(less, more)}
            if not roots:
                continue
            free = {r for r in roots if not self.suppliers[r] & self.suppliers[less]}
            if not free:
                self.reason[less] = "its supplier sells the more specific room too: a product of its own"
                self.confidence[less] = 0.9
                continue
            if len(free) > 1 and less[0] == "room" and less[2] is None:
                # "Double Room" beside several classes: the standard one, if there is one
                standard = {r for r in free if r[2] == "standard"}
                free = standard or free
            if len(free) == 1:
                target = free.pop()
                self.parent[less] = target
                self.suppliers[target] |= self.suppliers[less]
                # an unsaid view is as likely another product as the same one: the operator decides
                self.confidence[less] = 0.6 if less[4] is None and target[4] is not None else 0.85
                self.reason[less] = f"says less than {_slug(target)}, the only room it can be"
            else:
                self.confidence[less] = 0.45
                self.reason[less] = "could be any of " + ", ".join(sorted(_slug(r) for r in free))

    def groups(self) -> dict[Key, list[int]]:
        grouped: dict[Key, list[int]] = defaultdict(list)
        for k, members in self.members.items():
            grouped[self.root(k)].extend(members)
        return grouped


def _split_by_unknown_words(rows: list[tuple[RoomInput, RoomParse]], members: list[int]
                            ) -> list[tuple[str, list[tuple[int, float, str]]]]:
    """[(suffix, [(row, confidence factor, reason)])]: one part unless a supplier has two rows that differ in
    words the lexicon does not know."""
    if not any(rows[i][1].residual for i in members):
        return [("", [(i, 1.0, "") for i in members])]
    signature = {i: " ".join(sorted(rows[i][1].residual)) for i in members}
    per_supplier: dict[str, set[str]] = defaultdict(set)
    for i in members:
        per_supplier[rows[i][0].supplier_code].add(signature[i])
    anchors = sorted({s for sigs in per_supplier.values() if len(sigs) > 1 for s in sigs})
    if not anchors:
        return [("", [(i, 1.0, "") for i in members])]
    parts: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
    for i in members:
        sig = signature[i]
        if sig in anchors:
            parts[sig].append((i, 1.0, ""))
            continue
        ranked = sorted(((fuzz.token_set_ratio(sig, a) if sig and a else 0.0, a) for a in anchors), reverse=True)
        best, second = ranked[0][0], ranked[1][0] if len(ranked) > 1 else 0.0
        if best >= 80 and best - second >= 10:
            parts[ranked[0][1]].append((i, 0.85, f"closest to the rooms named with {ranked[0][1]!r}"))
        else:
            parts[f"?{rows[i][0].supplier_code}.{rows[i][0].supplier_room_code}"].append(
                (i, 0.45, "its supplier sells rooms told apart by words it lacks"))
    return [(s, m) for s, m in sorted(parts.items())]


def _without_board(name: str, board: str | None) -> str:
    """The name with the row's own board text taken out, when the supplier repeats it there (only used when that
    leaves fewer unknown words: a board "Breakfast" must not turn "Twin - Double Breakfast" into a double)."""
    board = (board or "").strip()
    if len(board) < 2 or board.lower() not in name.lower():
        return name
    if _HAN.search(board):
        return name.replace(board, " ")
    return re.sub(rf"(?<![^\W_]){re.escape(board)}(?![^\W_])", " ", name, count=1, flags=re.IGNORECASE)


def _parse(room: RoomInput) -> RoomParse:
    parsed = parse_room(room.room_name)
    if parsed.residual and room.board:  # words it does not know may be the row's own board ("Sunrise Package")
        bare = parse_room(_without_board(room.room_name, room.board))
        if len(bare.residual) < len(parsed.residual):
            return bare
    return parsed


def group_hotel(hotel_id: str, rooms: Sequence[RoomInput]) -> list[RoomDecision]:
    """Decisions for the rooms of one hotel, in their order."""
    rows = [(room, _parse(room)) for room in rooms]
    hotel = _Hotel(rows)
    hotel.merge_unsaid()
    out: list[RoomDecision | None] = [None] * len(rows)
    for root, members in hotel.groups().items():
        kind, subtype, tier, bed, view, features, bedrooms = root
        name = english_name(kind, tier, bed, view, features, subtype, bedrooms)
        klass = room_class(kind, tier, subtype, any(rows[i][1].recognised for i in members))
        for suffix, part in _split_by_unknown_words(rows, members):
            group = f"{hotel_id}:{_slug(root)}" + (f"~{suffix}" if suffix else "")
            for i, factor, split_reason in part:
                room, parse = rows[i]
                k = _key(parse)
                score, decision = _decide(parse, hotel.confidence[k] * factor)
                reason = "; ".join(r for r in (hotel.reason[k], split_reason) if r)
                if parse.residual:
                    reason += "; words not understood: " + " ".join(parse.residual)
                out[i] = RoomDecision(room.supplier_code, hotel_id, room.supplier_room_code, group, klass,
                                      bed_type(bed), score, decision, name, view, parse.smoking, reason)
    return [d for d in out if d is not None]


def _group_hotels(rooms: Sequence[RoomInput], hotels: list[tuple[str, list[int]]]) -> list[list[RoomDecision]]:
    return [group_hotel(hotel_id, [rooms[i] for i in indexes]) for hotel_id, indexes in hotels]


def match_rooms(rooms: Sequence[RoomInput], workers: int = 1) -> list[RoomDecision]:
    """One decision per room, in input order; rooms are grouped within their hotel_id only. With `workers` > 1
    and many rooms, hotels are shared out over forked processes."""
    from core.matching.parallel import can_fork, fork_map, slices

    by_hotel: dict[str, list[int]] = defaultdict(list)
    for i, room in enumerate(rooms):
        by_hotel[room.hotel_id].append(i)
    hotels = list(by_hotel.items())
    if workers > 1 and len(rooms) >= PARALLEL_FROM and can_fork():
        parts = [hotels[start:end] for start, end in slices(len(hotels), workers * 4, 100)]
        grouped = [d for part in fork_map(_group_hotels, rooms, parts, workers) for d in part]
    else:
        grouped = _group_hotels(rooms, hotels)
    out: list[RoomDecision | None] = [None] * len(rooms)
    for (_, indexes), decisions in zip(hotels, grouped, strict=True):
        for i, decision in zip(indexes, decisions, strict=True):
            out[i] = decision
    return [d for d in out if d is not None]
