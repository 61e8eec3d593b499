"""The `hotel_mappings` asset on real PostgreSQL: incremental runs, human decisions kept, review queue
through the API (operator only) and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from api.auth import Principal, issue_token
from assets.matching import every_supplier_hotel_mapped, hotel_mappings
from core.matching.ranking import OfferFacts, RankingWeights, rank_offers, ranking_weights
from core.money import Money
from pipelines.resources import PostgresResource

REPO = Path(__file__).resolve().parents[1]
MASTERS = [
    ("MX1", "Hilton Shanghai Pudong", "上海浦东希尔顿酒店", "88 Century Avenue, Pudong District, Shanghai",
     "Shanghai", "CN", 31.2350, 121.5050, 5, "+86 21 5888 1000"),
    ("MX2", "Hilton Shanghai Lujiazui", None, "12 Yincheng Road, Pudong District, Shanghai", "Shanghai", "CN",
     31.2384, 121.5030, 5, "+86 21 5888 2000"),
    ("MX3", "Shanghai Golden Phoenix Grand Hotel", "上海金凤凰大酒店", "500 Huaihai Road, Shanghai", "Shanghai", "CN",
     31.2200, 121.4700, 4, "+86 21 6333 4444"),
]
SUPPLIER_ROWS = [
    # (code, id, name, address, city, country, lat, lon, star, phone) → expected decision
    (("MA", "p1", "Hilton Shanghai Pudong", "88 Century Ave", "Shanghai", "CN", 31.23505, 121.50495, 5,
      "021-58881000"), "auto"),
    (("MB", "q1", "上海金凤凰大酒店", "上海市淮海路500号", "上海", "CN", 31.22005, 121.47005, 4, "0086-21-63334444"),
     "auto"),
    (("MA", "p2", "Hilton Shanghai", None, "Shanghai", "CN", 31.2367, 121.5040, 5, None), "review"),
    (("MB", "q2", "Seaside Lodge", "1 Beach Road", "Sanya", "CN", 18.25, 109.5, 3, None), "new"),
]


def _hash(row: tuple) -> str:
    return hashlib.sha256(json.dumps(row, ensure_ascii=False).encode()).hexdigest()


@pytest.fixture(scope="module")
def seeded(engine):
    with engine.begin() as conn:
        for code in ("MA", "MB"):
            conn.execute(sa.text("INSERT INTO suppliers (code, name, protocol, reliability)"
                                 " VALUES (:c, :c, 'json', 0.9) ON CONFLICT DO NOTHING"), dict(c=code))
        for m in MASTERS:
            conn.execute(sa.text(
                "INSERT INTO master_hotels (id, name, name_local, address, city, country, lat, lon, star, phone)"
                " VALUES (:id, :name, :local, :address, :city, :country, :lat, :lon, :star, :phone)"
                " ON CONFLICT DO NOTHING"),
                dict(zip(("id", "name", "local", "address", "city", "country", "lat", "lon", "star", "phone"), m,
                         strict=True)))
        for row, _ in SUPPLIER_ROWS:
            _upsert_supplier_hotel(conn, row)
    return engine


def _upsert_supplier_hotel(conn, row: tuple) -> None:
    keys = ("code", "sid", "name", "address", "city", "country", "lat", "lon", "star", "phone")
    conn.execute(sa.text(
        "INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, address, city, country, lat, lon, star,"
        " phone, content_hash) VALUES (:code, :sid, :name, :address, :city, :country, :lat, :lon, :star, :phone, :hash)"
        " ON CONFLICT (supplier_code, supplier_hotel_id) DO UPDATE SET name = EXCLUDED.name,"
        " content_hash = EXCLUDED.content_hash"), {**dict(zip(keys, row, strict=True)), "hash": _hash(row)})


def _materialize(database_url: str) -> dg.MaterializeResult:
    result = dg.materialize([hotel_mappings, every_supplier_hotel_mapped],
                            resources={"postgres": PostgresResource(database_url=database_url)})
    assert result.success
    return result


def _mappings(engine) -> dict[tuple[str, str], dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT s.supplier_code, s.supplier_hotel_id, m.id, m.master_hotel_id, m.decision, m.status, m.decided_by,"
            " m.features, m.candidates, m.updated_at FROM hotel_mappings m"
            " JOIN supplier_hotels s ON s.id = m.supplier_hotel")).mappings().fetchall()
    return {(r["supplier_code"], r["supplier_hotel_id"]): dict(r) for r in rows if r["supplier_code"] in ("MA", "MB")}


def _metadata(result) -> dict:
    event = result.asset_materializations_for_node("hotel_mappings")[0]
    return {k: v.value for k, v in event.metadata.items()}


def test_asset_decides_stores_features_and_proposes_new_hotels(seeded, database_url):
    result = _materialize(database_url)
    mappings = _mappings(seeded)
    assert {key: m["decision"] for key, m in mappings.items()} == {row[:2]: d for row, d in SUPPLIER_ROWS}
    auto = mappings[("MA", "p1")]
    assert auto["master_hotel_id"] == "MX1" and auto["status"] == "machine"
    assert auto["features"]["contributions"] and auto["features"]["features"]["phone"] == 1.0
    review = mappings[("MA", "p2")]
    assert review["status"] == "pending_review"
    assert {c["hotel_id"] for c in review["candidates"][:2]} == {"MX1", "MX2"}
    new = mappings[("MB", "q2")]
    with seeded.connect() as conn:
        source = conn.execute(sa.text("SELECT source FROM master_hotels WHERE id = :id"),
                              dict(id=new["master_hotel_id"])).scalar_one()
    assert source == "supplier"
    meta = _metadata(result)
    # Counted for this module's suppliers only: other test_matching_* modules share the database.
    assert meta["per_supplier"]["MA"] == {"auto": 1, "review": 1}
    assert meta["per_supplier"]["MB"] == {"auto": 1, "new": 1}


def test_rerun_matches_only_changed_hotels_and_never_overwrites_a_person(seeded, database_url, api_client):
    _materialize(database_url)
    before = _mappings(seeded)
    review_id = before[("MA", "p2")]["id"]
    operator = _token(api_client, "operator")
    accepted = api_client.post(f"/v1/mappings/reviews/{review_id}/accept", json={"hotel_id": "MX2"},
                               headers=operator)
    assert accepted.status_code == 200, accepted.text
    from core import audit

    [entry] = audit.search(seeded, target=f"hotel_mapping:{review_id}")
    assert (entry["action"], entry["source"], entry["after"]) == ("mapping.accept", "api",
                                                                  {"status": "accepted", "hotel_id": "MX2"})
    # both the person-decided hotel and a machine-decided one change upstream
    with seeded.begin() as conn:
        _upsert_supplier_hotel(conn, ("MA", "p2", "Hilton Shanghai Lujiazui", None, "Shanghai", "CN", 31.2367,
                                      121.5040, 5, None))
        _upsert_supplier_hotel(conn, ("MA", "p1", "Hilton Shanghai Pudong Hotel", "88 Century Ave", "Shanghai", "CN",
                                      31.23505, 121.50495, 5, "021-58881000"))
    meta = _metadata(_materialize(database_url))
    after = _mappings(seeded)
    assert meta["matched"] == 1 and meta["kept_human_decisions"] == 1
    person = after[("MA", "p2")]
    assert (person["status"], person["master_hotel_id"]) == ("accepted", "MX2")
    assert person["decided_by"].startswith("api:")
    assert after[("MA", "p1")]["updated_at"] > before[("MA", "p1")]["updated_at"]
    assert after[("MB", "q1")]["updated_at"] == before[("MB", "q1")]["updated_at"]  # unchanged: not rematched
    # nothing changed: nothing is matched
    assert _metadata(_materialize(database_url))["matched"] == 0


def _token(api_client, role: str) -> dict:
    settings = api_client.app.state.settings
    partner = "00000000-0000-0000-0000-000000000001" if role == "partner" else None
    token, _ = issue_token(settings, Principal(f"test-{role}", role, partner))
    return {"Authorization": f"Bearer {token}"}


def test_review_api_is_for_operators_only(seeded, database_url, api_client):
    _materialize(database_url)
    assert api_client.get("/v1/mappings/reviews").status_code == 401
    assert api_client.get("/v1/mappings/reviews", headers=_token(api_client, "partner")).status_code == 403
    assert api_client.post("/v1/mappings/reviews/1/reject", headers=_token(api_client, "partner")).status_code == 403
    listed = api_client.get("/v1/mappings/reviews", headers=_token(api_client, "operator"))
    assert listed.status_code == 200
    for item in listed.json()["items"]:
        assert item["candidates"] and "contributions" in item["candidates"][0]


def test_review_actions_validate_their_input(seeded, database_url, api_client):
    _materialize(database_url)
    operator = _token(api_client, "operator")
    mapping_id = _mappings(seeded)[("MB", "q2")]["id"]
    missing = api_client.post(f"/v1/mappings/reviews/{mapping_id}/accept", json={"hotel_id": "NOPE"}, headers=operator)
    assert missing.status_code == 422 and "hotel_id" in missing.json()["error"]["message"]
    assert api_client.post("/v1/mappings/reviews/99999999/reject", headers=operator).status_code == 404
    marked = api_client.post(f"/v1/mappings/reviews/{mapping_id}/new", headers=operator)
    assert marked.status_code == 200 and marked.json()["status"] == "marked_new"


def test_cli_review_list_and_reject(seeded, database_url, settings):
    _materialize(database_url)
    mapping_id = _mappings(seeded)[("MA", "p1")]["id"]
    env = {"DATABASE_URL": database_url, "REDIS_URL": settings.redis_url, "PATH": "/usr/bin:/bin",
           "HOTEL_DATA_DIR": str(settings.data_dir), "JWT_SECRET": os.environ["JWT_SECRET"],
           "ENCRYPTION_SECRET": os.environ["ENCRYPTION_SECRET"]}
    listed = subprocess.run([sys.executable, "-m", "cli.main", "mappings", "review", "list"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)
    rejected = subprocess.run([sys.executable, "-m", "cli.main", "mappings", "review", "reject", str(mapping_id),
                               "--reviewer", "ops-anna"], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=120)
    assert rejected.returncode == 0, rejected.stderr
    assert _mappings(seeded)[("MA", "p1")]["decided_by"] == "cli:ops-anna"


def test_best_offer_ranking_uses_stored_weights(engine):
    weights = ranking_weights(engine)
    assert weights == RankingWeights(0.4, 0.3, 0.2, 0.1)
    offers = [
        OfferFacts("A-cheap-unreliable", Money.of("100.00", "CNY"), rating=3.0, rooms_available=1,
                   supplier_reliability=0.5),
        OfferFacts("B-dearer-good", Money.of("104.00", "CNY"), rating=4.8, rooms_available=5,
                   supplier_reliability=0.99),
        OfferFacts("C-dear", Money.of("1000.00", "CNY"), rating=4.8, rooms_available=5, supplier_reliability=0.99),
    ]
    assert [r.offer for r in rank_offers(offers, weights)] == ["B-dearer-good", "A-cheap-unreliable", "C-dear"]
    price_only = RankingWeights(1, 0, 0, 0)
    assert [r.offer for r in rank_offers(offers, price_only)][0] == "A-cheap-unreliable"
    with pytest.raises(ValueError, match="one currency"):
        rank_offers([offers[0], OfferFacts("x", Money.of("10", "USD"))])
