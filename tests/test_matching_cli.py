"""`hotelctl match` file contract, run as the real command in a subprocess."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CATALOG_HEADER = "hotel_id,name,name_local,address,city,country,lat,lon,star,phone\n"
SUPPLIER_HEADER = "supplier_code,supplier_hotel_id,name,address,city,country,lat,lon,star,phone\n"
CATALOG = CATALOG_HEADER + (
    'H1,Hilton Shanghai Pudong,上海浦东希尔顿酒店,"88 Century Avenue, Pudong District, Shanghai",Shanghai,CN,'
    '31.2350,121.5050,5,+86 21 5888 1000\n'
    'H2,Hilton Shanghai Lujiazui,,"12 Yincheng Road, Shanghai",Shanghai,CN,31.2384,121.5030,,\n'
    'H3,Hotel des Arts Montmartre,,"5 Rue Tholozé, Paris",Paris,FR,48.8860,2.3370,3,+33 1 46 06 30 52\n'
)


def _hotelctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def _write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _match(tmp_path: Path, catalog: str, supplier: str, bom: bool = False):
    out = tmp_path / "matches.csv"
    result = _hotelctl("match", "--catalog", str(_write(tmp_path / "catalog.csv", catalog, bom)),
                       "--supplier", str(_write(tmp_path / "supplier.csv", supplier, bom)), "--out", str(out))
    return result, out


def test_one_row_per_supplier_row_in_input_order(tmp_path):
    supplier = SUPPLIER_HEADER + (
        'B,zz9,上海浦东希尔顿大酒店,上海市浦东区世纪大道88号,上海,CN,31.23505,121.50495,5,0086-21-58881000\n'
        'A,001,"Hotel des Arts, Montmartre","5 Rue Tholoze, Paris",Paris,FR,48.88605,2.33702,,\n'
        'A,002,Seaside Lodge,1 Beach Road,Sanya,CN,18.25,109.5,3,\n'
        'A,003,Hilton Shanghai,,Shanghai,CN,31.2367,121.5040,,\n'
    )
    result, out = _match(tmp_path, CATALOG, supplier, bom=True)
    assert result.returncode == 0, result.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["supplier_code", "supplier_hotel_id", "hotel_id", "score", "decision"]
    assert [(r["supplier_code"], r["supplier_hotel_id"]) for r in rows] == [("B", "zz9"), ("A", "001"), ("A", "002"),
                                                                           ("A", "003")]
    assert [(r["hotel_id"], r["decision"]) for r in rows[:2]] == [("H1", "auto"), ("H3", "auto")]
    assert rows[2]["decision"] == "new" and rows[2]["hotel_id"]  # a proposed master hotel id
    assert rows[3]["decision"] == "review" and rows[3]["hotel_id"] == ""
    assert all(0 <= float(r["score"]) <= 1 for r in rows)


@pytest.mark.parametrize("supplier, line, column", [
    (SUPPLIER_HEADER + "A,1,Hotel X,,Paris,FR,48.1,2.1,,\nA,2,Hotel Y,,Paris,FR,forty-eight,2.1,,\n", 3, "lat"),
    (SUPPLIER_HEADER + 'A,1,"Hotel, with comma",,Paris,FR,48.1,2.1,,\nA,2,Hotel Y,,Paris,FR,48.1,200,,\n', 3, "lon"),
    (SUPPLIER_HEADER.replace(",lon,", ",longitude,") + "A,1,Hotel X,,Paris,FR,48.1,2.1,,\n", 1, "lon"),
])
def test_bad_supplier_input_names_file_line_column_and_writes_nothing(tmp_path, supplier, line, column):
    result, out = _match(tmp_path, CATALOG, supplier)
    assert result.returncode != 0
    assert "supplier.csv" in result.stderr
    assert f"line {line}" in result.stderr
    assert f"column {column}" in result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".matches")] == []


def test_bad_catalog_coordinate_keeps_an_existing_output_untouched(tmp_path):
    out = tmp_path / "matches.csv"
    out.write_text("previous\n")
    catalog = CATALOG + "H4,Broken,,,Paris,FR,48.9,abc,3,\n"
    result = _hotelctl("match", "--catalog", str(_write(tmp_path / "catalog.csv", catalog)),
                       "--supplier", str(_write(tmp_path / "supplier.csv", SUPPLIER_HEADER)), "--out", str(out))
    assert result.returncode != 0
    assert "catalog.csv, line 5, column lon" in result.stderr
    assert out.read_text() == "previous\n"


def test_quoted_multiline_field_counts_lines_right(tmp_path):
    supplier = SUPPLIER_HEADER + 'A,1,"Hotel\nX",,Paris,FR,48.1,2.1,,\nA,2,Hotel Y,,Paris,FR,,2.1,,\n'
    result, _ = _match(tmp_path, CATALOG, supplier)
    assert result.returncode != 0
    assert "line 4, column lat" in result.stderr


def test_bench_matching_runs_at_a_tiny_size():
    result = _hotelctl("bench", "matching", "--hotels", "300", "--seed", "5", "--workers", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("weighted_score") for line in lines)
    assert any(line.startswith("baseline") for line in lines)
    assert "precision" in result.stdout and "hotels/s" in result.stdout
