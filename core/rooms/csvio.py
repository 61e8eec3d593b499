"""The `hotelctl match-rooms` file contract.

ROOMS.csv: supplier_code,hotel_id,supplier_room_code,room_name,board,max_occupancy (board and max_occupancy may
be empty; hotel_id is the master hotel, so rooms of one hotel at several suppliers share it). A room code may
come on several rows (one per board, say): each row gets its own output row. Every problem
raises `CsvInputError` naming the file, the line (1 = header) and the column, as `hotelctl match` does.
OUT.csv: supplier_code,hotel_id,supplier_room_code,room_group,room_class,bed_type,score,decision, one row per
input row, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.matching.csvio import CsvInputError, csv_rows, required, write_csv_atomic
from core.rooms.grouping import RoomDecision, RoomInput

ROOM_COLUMNS = ("supplier_code", "hotel_id", "supplier_room_code", "room_name", "board", "max_occupancy")
ROOM_MATCH_COLUMNS = ("supplier_code", "hotel_id", "supplier_room_code", "room_group", "room_class", "bed_type",
                      "score", "decision")
MAX_OCCUPANCY = 99


def _occupancy(path: Path, line: int, text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_OCCUPANCY:
        raise CsvInputError(path, line, "max_occupancy", f"{text!r} is not a whole number of guests "
                                                         f"from 1 to {MAX_OCCUPANCY}")
    return int(text)


def read_rooms(path: Path | str) -> list[RoomInput]:
    path = Path(path)
    rooms: list[RoomInput] = []
    for line, row in csv_rows(path, ROOM_COLUMNS):
        room = RoomInput(
            supplier_code=required(path, line, row, "supplier_code"),
            hotel_id=required(path, line, row, "hotel_id"),
            supplier_room_code=required(path, line, row, "supplier_room_code"),
            room_name=required(path, line, row, "room_name"),
            board=row["board"] or None,
            max_occupancy=_occupancy(path, line, row["max_occupancy"]),
        )
        rooms.append(room)
    return rooms


def write_room_matches(path: Path | str, decisions: Sequence[RoomDecision]) -> None:
    write_csv_atomic(path, ROOM_MATCH_COLUMNS, (
        (d.supplier_code, d.hotel_id, d.supplier_room_code, d.room_group, d.room_class, d.bed_type, f"{d.score:.4f}",
         d.decision) for d in decisions))
