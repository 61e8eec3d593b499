"""`hotelctl bench rooms` at a small size: it prints every figure and target, and the labelled set is what it
says (several suppliers per hotel, Chinese and abbreviations, near misses side by side)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from typer.testing import CliRunner

from bench.room_data import labelled_rooms
from cli.main import app


def test_bench_rooms_prints_each_figure_and_target():
    result = CliRunner().invoke(app, ["bench", "rooms", "--rooms", "3000", "--seed", "7"])
    assert result.exit_code == 0, result.output
    row = re.search(r"room grouping \(auto pairs\)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%",
                    result.stdout)
    assert row, result.stdout
    precision, recall, review, klass, bed = (float(v) for v in row.groups())
    assert 0 < precision <= 1 and 0 < recall <= 1 and 0 <= review <= 100 and klass > 0 and bed > 0
    assert "baseline (same cleaned name)" in result.stdout
    assert len(re.findall(r"^\s+(met |MISS|info)\s", result.stdout, re.M)) == 7
    assert re.search(r"info  hotelctl match-rooms on \d+ rooms, file to file, process start included: [\d.]+ s",
                     result.stdout)


def test_the_labelled_set_is_multilingual_multi_supplier_and_has_near_misses():
    rooms = labelled_rooms(11, 4000)
    assert rooms == labelled_rooms(11, 4000)  # seeded
    suppliers = defaultdict(set)
    names_per_product = defaultdict(set)
    for item in rooms:
        suppliers[item.room.hotel_id].add(item.room.supplier_code)
        names_per_product[item.product].add(item.room.room_name)
    assert sum(len(s) >= 2 for s in suppliers.values()) > 0.9 * len(suppliers)
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in r.room.room_name) for r in rooms) > len(rooms) // 10
    assert sum(len(n) > 1 for n in names_per_product.values()) > len(names_per_product) // 2
    per_hotel = defaultdict(Counter)
    for item in rooms:
        per_hotel[item.room.hotel_id][(item.room_class, item.bed_type)] += 1
    assert sum(any(b == "twin" for _, b in c) and any(b in ("king", "queen", "double") for _, b in c)
               for c in per_hotel.values()) > len(per_hotel) // 3
