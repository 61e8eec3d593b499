"""`hotelctl match-rooms` file contract, run as the real command in a subprocess."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEADER = "supplier_code,hotel_id,supplier_room_code,room_name,board,max_occupancy\n"
OUT_COLUMNS = ["supplier_code", "hotel_id", "supplier_room_code", "room_group", "room_class", "bed_type", "score",
               "decision"]


def _match_rooms(tmp_path: Path, text: str, bom: bool = False) -> tuple[subprocess.CompletedProcess, Path]:
    rooms, out = tmp_path / "rooms.csv", tmp_path / "out.csv"
    rooms.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    result = subprocess.run([sys.executable, "-m", "cli.main", "match-rooms", "--rooms", str(rooms), "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    return result, out


def test_one_row_per_input_row_grouped_within_each_hotel(tmp_path):
    result, out = _match_rooms(tmp_path, HEADER + (
        "A,H1,DBL.ST,Standard Double,RO,2\n"
        "B,H1,SD,标准大床房,含早,2\n"
        "C,H1,std-dbl,\"Standard Queen, Non-Smoking\",,\n"
        "A,H1,TWN.ST,Standard Twin,BB,2\n"
        "C,H1,std-twin,Standard Two Beds - Room Only,,2\n"
        "B,H1,ES,行政套房,,3\n"
        "A,H1,SUI.EX,Executive Suite,,3\n"
        "A,H2,DBL.ST,Standard Double,RO,2\n"
        "A,H2,DBL.ST,Standard Double,BB,2\n"          # the same room code again, with another board
    ), bom=True)
    assert result.returncode == 0, result.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == OUT_COLUMNS
    assert [(r["supplier_code"], r["hotel_id"], r["supplier_room_code"]) for r in rows] == [
        ("A", "H1", "DBL.ST"), ("B", "H1", "SD"), ("C", "H1", "std-dbl"), ("A", "H1", "TWN.ST"),
        ("C", "H1", "std-twin"), ("B", "H1", "ES"), ("A", "H1", "SUI.EX"), ("A", "H2", "DBL.ST"),
        ("A", "H2", "DBL.ST")]
    group = [r["room_group"] for r in rows]
    assert group[0] == group[1] == group[2] and group[3] == group[4] and group[5] == group[6]
    assert len({group[0], group[3], group[5], group[7]}) == 4       # other products, and another hotel
    assert group[7] == group[8]
    assert [(r["room_class"], r["bed_type"]) for r in rows[:2]] == [("standard", "queen")] * 2
    assert (rows[3]["room_class"], rows[3]["bed_type"]) == ("standard", "twin")
    assert rows[5]["room_class"] == "suite"
    assert {r["decision"] for r in rows} == {"auto"}
    assert all(0 <= float(r["score"]) <= 1 for r in rows)


@pytest.mark.parametrize("text, line, column", [
    (HEADER + "A,H1,1,Deluxe King,,two\n", 2, "max_occupancy"),
    (HEADER + "A,H1,1,Deluxe King,,2\nA,H1,2,Deluxe Twin,,0\n", 3, "max_occupancy"),
    (HEADER + "A,H1,1,Deluxe King,,2.5\n", 2, "max_occupancy"),
    ("supplier_code,hotel_id,supplier_room_code,board,max_occupancy\nA,H1,1,,2\n", 1, "room_name"),
    (HEADER + "A,H1,1,,,2\n", 2, "room_name"),
    (HEADER + "A,,1,Deluxe King,,2\n", 2, "hotel_id"),
])
def test_a_malformed_file_gets_one_line_naming_file_line_and_column(tmp_path, text, line, column):
    result, out = _match_rooms(tmp_path, text)
    assert result.returncode == 1
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"rooms.csv, line {line}, column {column}" in message
    assert not out.exists()


def test_a_missing_or_unreadable_file_gets_one_line_and_exit_1(tmp_path):
    rooms = tmp_path / "nowhere.csv"
    result = subprocess.run([sys.executable, "-m", "cli.main", "match-rooms", "--rooms", str(rooms), "--out",
                             str(tmp_path / "out.csv")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert "nowhere.csv" in result.stderr and "cannot open" in result.stderr
    (tmp_path / "rooms.csv").write_bytes(HEADER.encode() + b"A,H1,1,Deluxe \xff King,,2\n")
    result = subprocess.run([sys.executable, "-m", "cli.main", "match-rooms", "--rooms", str(tmp_path / "rooms.csv"),
                             "--out", str(tmp_path / "out2.csv")], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and "rooms.csv, line 2" in result.stderr and "UTF-8" in result.stderr
