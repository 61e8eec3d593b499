"""The `room_mappings` asset on real PostgreSQL: rooms of sold hotels grouped, the review queue (API and CLI), an
operator's decision kept across later syncs, incremental reruns, and what the quote engine reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from api.auth import Principal, issue_token
from assets.matching import every_sold_room_mapped, room_mappings
from core.rooms.store import room_types_for
from pipelines.resources import PostgresResource

REPO = Path(__file__).resolve().parents[1]
ROOMS = {  # supplier → [(room code, name, max occupancy)] of hotel RX1
    "RA": [("DK", "Deluxe King", 2), ("DT", "Deluxe Twin", 2)],
    "RB": [("b1", "豪华大床房", 2), ("b2", "豪华双床房含早", 2)],
    "RC": [("c1", "Deluxe King Room Only", 2)],
    "RD": [("d1", "豪华房", 2)],
}


def _room_type(conn, supplier: str, hotel: str, code: str, name: str, occupancy: int = 2) -> None:
    conn.execute(sa.text(
        "INSERT INTO room_types (supplier_hotel, room_code, name, max_occupancy)"
        " SELECT id, :code, :name, :occupancy FROM supplier_hotels WHERE supplier_code = :s AND supplier_hotel_id = :h"
        " ON CONFLICT (supplier_hotel, room_code) DO UPDATE SET name = EXCLUDED.name"),
        dict(s=supplier, h=hotel, code=code, name=name, occupancy=occupancy))


@pytest.fixture(scope="module")
def seeded(engine):
    with engine.begin() as conn:
        for master in ("RX1", "RX2"):
            conn.execute(sa.text("INSERT INTO master_hotels (id, name, city, country) VALUES (:id, :id, 'Xi''an', 'CN')"
                                 " ON CONFLICT DO NOTHING"), dict(id=master))
        for supplier in ROOMS:
            conn.execute(sa.text("INSERT INTO suppliers (code, name, protocol, reliability)"
                                 " VALUES (:c, :c, 'json', 0.9) ON CONFLICT DO NOTHING"), dict(c=supplier))
            for hotel, master, decision, status in (("h1", "RX1", "auto", "machine"),
                                                    ("h2", "RX2", "new", "marked_new")):
                conn.execute(sa.text(
                    "INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, content_hash)"
                    " VALUES (:s, :h, :h, 'x') ON CONFLICT DO NOTHING"), dict(s=supplier, h=hotel))
                conn.execute(sa.text(
                    "INSERT INTO hotel_mappings (supplier_hotel, master_hotel_id, decision, status, score,"
                    " content_hash) SELECT id, :master, :decision, :status, 0.9, 'x' FROM supplier_hotels"
                    " WHERE supplier_code = :s AND supplier_hotel_id = :h ON CONFLICT DO NOTHING"),
                    dict(s=supplier, h=hotel, master=master, decision=decision, status=status))
            for code, name, occupancy in ROOMS[supplier]:
                _room_type(conn, supplier, "h1", code, name, occupancy)
            _room_type(conn, supplier, "h2", "x", "Deluxe King")  # a hotel marked new: not sold, so not mapped
    return engine


def _materialize(database_url: str) -> dict:
    result = dg.materialize([room_mappings, every_sold_room_mapped],
                            resources={"postgres": PostgresResource(database_url=database_url)})
    assert result.success
    assert all(check.passed for check in result.get_asset_check_evaluations())
    event = result.asset_materializations_for_node("room_mappings")[0]
    return {k: v.value for k, v in event.metadata.items()}


def _mappings(engine) -> dict[tuple[str, str], dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, supplier_code, supplier_room_code, master_hotel_id, room_group, room_class, bed_type, name_en,"
            " decision, status, decided_by, updated_at FROM room_mappings WHERE master_hotel_id IN ('RX1', 'RX2')"
        )).mappings().fetchall()
    return {(r["supplier_code"], r["supplier_room_code"]): dict(r) for r in rows}


def _room_type_id(engine, supplier: str, code: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT rt.id FROM room_types rt JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel"
            " WHERE sh.supplier_code = :s AND sh.supplier_hotel_id = 'h1' AND rt.room_code = :c"),
            dict(s=supplier, c=code)).scalar_one()


def _token(api_client, role: str) -> dict:
    partner = "00000000-0000-0000-0000-000000000001" if role == "partner" else None
    token, _ = issue_token(api_client.app.state.settings, Principal(f"test-{role}", role, partner))
    return {"Authorization": f"Bearer {token}"}


def test_asset_groups_the_rooms_of_sold_hotels_and_the_quote_engine_reads_them(seeded, database_url):
    meta = _materialize(database_url)
    assert meta["rooms"] >= 6 and meta["review"] >= 1
    mappings = _mappings(seeded)
    assert {key[0] for key in mappings} == set(ROOMS) and all(m["master_hotel_id"] == "RX1" for m in mappings.values())
    assert len(mappings) == 6
    king, twin = mappings["RA", "DK"], mappings["RA", "DT"]
    assert king["room_group"] == mappings["RB", "b1"]["room_group"] == mappings["RC", "c1"]["room_group"]
    assert twin["room_group"] == mappings["RB", "b2"]["room_group"] != king["room_group"]
    assert (king["room_class"], king["bed_type"], king["name_en"]) == ("deluxe", "king", "Deluxe King Room")
    unclear = mappings["RD", "d1"]  # "豪华房": the deluxe king or the deluxe twin
    assert (unclear["decision"], unclear["status"]) == ("review", "pending_review")
    assert unclear["room_group"] not in (king["room_group"], twin["room_group"])

    read = room_types_for(seeded, ["RX1", "RX2"])
    assert len(read) == 6 and {r.master_hotel_id for r in read.values()} == {"RX1"}
    chinese = next(r for r in read.values() if r.supplier_room_code == "b1")
    assert (chinese.name_en, chinese.name_local, chinese.room_group) == ("Deluxe King Room", "豪华大床房",
                                                                          king["room_group"])
    assert room_types_for(seeded, []) == {}


def test_an_operators_decision_sticks_across_later_syncs(seeded, database_url, api_client):
    _materialize(database_url)
    before = _mappings(seeded)
    unclear, king = before["RD", "d1"], before["RA", "DK"]
    operator = _token(api_client, "operator")
    assert api_client.get("/v1/mappings/room-reviews").status_code == 401
    assert api_client.get("/v1/mappings/room-reviews", headers=_token(api_client, "partner")).status_code == 403
    listed = api_client.get("/v1/mappings/room-reviews", headers=operator).json()["items"]
    item = next(i for i in listed if i["mapping_id"] == unclear["id"])
    assert item["room"]["name"] == "豪华房" and len(item["hotel_groups"]) >= 3
    bad = api_client.post(f"/v1/mappings/room-reviews/{unclear['id']}/assign", json={"same_as": 99999999},
                          headers=operator)
    assert bad.status_code == 422 and "same_as" in bad.json()["error"]["message"]
    assigned = api_client.post(f"/v1/mappings/room-reviews/{unclear['id']}/assign", json={"same_as": king["id"]},
                               headers=operator)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["room_group"] == king["room_group"]

    # a later sync: one room renamed, a supplier adds a room; the operator's room is untouched
    with seeded.begin() as conn:
        _room_type(conn, "RA", "h1", "DT", "Deluxe Twin Room - Non-Refundable")
        _room_type(conn, "RC", "h1", "c2", "Dlx Twn")
        _room_type(conn, "RD", "h1", "d1", "豪华房(含早)")  # the operator's room, renamed by its supplier
        _room_type(conn, "RA", "h1", "DK", "Deluxe King Sea View")  # its peer's group gets another name
    meta = _materialize(database_url)
    assert meta["hotels_regrouped"] == 1 and meta["kept_human_decisions"] == 1
    after = _mappings(seeded)
    person = after["RD", "d1"]
    assert after["RA", "DK"]["room_group"] != king["room_group"]
    assert (person["room_group"], person["status"]) == (after["RA", "DK"]["room_group"], "overridden")
    assert person["decided_by"].startswith("api:")
    assert room_types_for(seeded, ["RX1"])[_room_type_id(seeded, "RD", "d1")].name_local == "豪华房(含早)"
    assert after["RC", "c2"]["room_group"] == after["RA", "DT"]["room_group"] == after["RB", "b2"]["room_group"]
    # nothing changed: nothing regrouped
    assert _materialize(database_url)["hotels_regrouped"] == 0


def test_cli_lists_and_separates_room_reviews(seeded, database_url, settings):
    _materialize(database_url)
    mapping = _mappings(seeded)["RC", "c1"]
    env = {"DATABASE_URL": database_url, "REDIS_URL": settings.redis_url, "PATH": "/usr/bin:/bin",
           "HOTEL_DATA_DIR": str(settings.data_dir), "JWT_SECRET": os.environ["JWT_SECRET"],
           "ENCRYPTION_SECRET": os.environ["ENCRYPTION_SECRET"]}
    listed = subprocess.run([sys.executable, "-m", "cli.main", "mappings", "review", "rooms", "list"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)
    separated = subprocess.run([sys.executable, "-m", "cli.main", "mappings", "review", "rooms", "separate",
                                str(mapping["id"]), "--as", "ops-li"], cwd=REPO, env=env, capture_output=True,
                               text=True, timeout=120)
    assert separated.returncode == 0, separated.stderr
    after = _mappings(seeded)["RC", "c1"]
    assert after["decided_by"] == "cli:ops-li" and after["room_group"] != mapping["room_group"]
    missing = subprocess.run([sys.executable, "-m", "cli.main", "mappings", "review", "rooms", "accept", "99999999"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "99999999" in missing.stderr
