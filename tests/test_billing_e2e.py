"""The issue's acceptance run: two weekly cycles for three partners (one with a sub-agent) booked through the
partner API at simulator A, statements by the Dagster asset, invoices, a credit note and a bank CSV through
finance's API, then numbering, totals, balances, credit freed, ageing and who sees what."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from core.billing import statements, store
from core.partners import create_partner
from core.settlement.cycles import cycle_containing
from tests.api_fixtures import auth, new_staff, order_body, seed_from_simulator, start_supplier_a
from tests.billing_fixtures import new_entity, pdf_text


def _book(client, headers, offer: dict, check_in: dt.date) -> tuple[int, dict]:
    quote = client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [offer["hotel_id"]], "check_in": check_in.isoformat(),
        "check_out": (check_in + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1})
    assert quote.status_code == 200, quote.text
    assert quote.json()["offers"], quote.json()
    choice = next(o for o in quote.json()["offers"] if o["room_type"] == offer["room_name"] and o["refundable"])
    order = client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                        json=order_body(choice["offer_id"]))
    return order.status_code, order.json()


def _statements(engine, settings, cycle):
    """What the partner_statements asset runs for a partition (these cycles lie beyond its partitions, which
    end today: the asset itself is materialised in test_billing_documents), with its checks."""
    outcome = statements.write_statements(engine, cycle, settings, run_id="e2e")
    assert not any(statements.verify_cycle(engine, cycle).values())
    with engine.connect() as conn:
        assert all(debit == credit for debit, credit in store.journal_balance(conn).values())
    return outcome


def test_two_cycles_billed_paid_credited_and_seen_only_by_their_partner(api_client, engine, settings, migrated,
                                                                        redis_url):
    with engine.connect() as conn:
        previous_url = conn.execute(sa.text("SELECT base_url FROM suppliers WHERE code = 'A'")).scalar()
    sim = start_supplier_a(engine, settings)
    try:
        first = cycle_containing(dt.date.today() + dt.timedelta(days=420 + 7 * secrets.randbelow(40)))
        second = cycle_containing(first.end)
        stays = [first.start + dt.timedelta(days=1), second.start + dt.timedelta(days=1)]
        # one window over both stays: the hot cache keeps one window per hotel
        offer = seed_from_simulator(engine, redis_url, sim, start=stays[0], nights=9, hotels=1, allotment=40)[0]
        offers = {stay: offer for stay in stays}
        tag = secrets.token_hex(2)
        a = create_partner(engine, f"Alpha {tag}", credit_limit=Decimal("10000000"), commission_pct=Decimal("10"))
        a_sub = create_partner(engine, f"Alpha Kids {tag}", credit_limit=Decimal("10000000"), parent_id=a.partner_id)
        b = create_partner(engine, f"Beta {tag}", credit_limit=Decimal("10000000"))
        c = create_partner(engine, f"Gamma {tag}", credit_limit=Decimal("10000000"))
        heads = {name: auth(api_client, creds) for name, creds in (("a", a), ("a_sub", a_sub), ("b", b), ("c", c))}
        finance = auth(api_client, new_staff(engine, "finance"))
        entity = new_entity(engine)
        for creds in (a, b, c):
            profile = api_client.put(f"/v1/billing/profiles/{creds.partner_id}", headers=finance,
                                     json={"country": "CN", "currency": "CNY", "terms_days": 30, "entity": entity})
            assert profile.status_code == 200, profile.text
        refused = api_client.put(f"/v1/billing/profiles/{a_sub.partner_id}", headers=finance, json={"country": "CN"})
        assert refused.status_code == 422 and "parent" in refused.json()["error"]["message"]

        booked = {name: [] for name in heads}
        for stay in stays:
            for name in heads:
                status, order = _book(api_client, heads[name], offers[stay], stay)
                assert status == 201 and order["status"] == "CONFIRMED", order
                booked[name].append(order)
        # Beta's credit limit now admits no third order (the same stay as its first: the same price)
        with engine.begin() as conn:
            exposure = sum(Decimal(o["total_price"]["amount"]) for o in booked["b"])
            conn.execute(sa.text("UPDATE partners SET credit_limit = :l WHERE id = :id"),
                         {"l": exposure + 1, "id": b.partner_id})
        status, body = _book(api_client, heads["b"], offers[stays[0]], stays[0])
        assert status == 402 and body["error"]["code"] == "credit_limit_exceeded"

        outcome = _statements(engine, settings, first)
        assert {outcome.actions[str(p.partner_id)] for p in (a, b, c)} == {"created"}
        assert str(a_sub.partner_id) not in outcome.actions
        listed = api_client.get("/v1/statements", headers=heads["a"]).json()["statements"]
        [alpha_first] = [s for s in listed if s["period_start"] == first.key]
        assert {agent["agent_name"] for agent in alpha_first["agents"]} == {f"Alpha {tag}", f"Alpha Kids {tag}"}
        sells = [Decimal(o["total_price"]["amount"]) for o in (booked["a"][0], booked["a_sub"][0])]
        # Alpha's own booking less its 10 % commission, and its sub-agent's (no commission), billed to Alpha
        charges = (sells[0] * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) + sells[1]
        assert Decimal(alpha_first["totals"]["CNY"]["charges"]) == charges

        issued = {}
        for name, creds in (("a", a), ("b", b), ("c", c)):
            response = api_client.post("/v1/billing/invoices", headers=finance, json={
                "partner_id": str(creds.partner_id), "period_start": first.key, "issued_on": first.end.isoformat()})
            assert response.status_code == 201, response.text
            issued[name] = response.json()
        assert [issued[n]["document_number"] for n in "abc"] == [f"{entity}-00000{i}" for i in (1, 2, 3)]
        assert Decimal(issued["a"]["subtotal"]) == charges
        assert Decimal(issued["a"]["tax_amount"]) == (charges * Decimal("0.06")).quantize(Decimal("0.01"),
                                                                                          rounding=ROUND_HALF_UP)
        again = api_client.post("/v1/billing/invoices", headers=finance, json={
            "partner_id": str(a.partner_id), "period_start": first.key, "issued_on": first.end.isoformat()})
        assert again.status_code == 409

        note = api_client.post(f"/v1/billing/invoices/{issued['c']['document_number']}/credit-notes", headers=finance,
                               json={"reason": "booked at the wrong rate", "issued_on": first.end.isoformat()})
        assert note.status_code == 201 and note.json()["document_number"] == f"{entity}-000004"
        assert note.json()["total"] == issued["c"]["total"]

        half = (Decimal(issued["a"]["total"]) / 2).quantize(Decimal("0.01"))
        paid_on = second.start + dt.timedelta(days=2)
        bank = ("booked_on,amount,currency,reference\n"
                f"{paid_on},{half},CNY,INV {issued['a']['document_number']} part 1\n"
                f"{paid_on},{issued['b']['total']},CNY,BETA TRAVEL WEEKLY\n"
                f"{paid_on},77.77,CNY,who knows\n")
        imported = api_client.post("/v1/billing/bank-statements?filename=bank.csv", headers=finance, content=bank)
        assert imported.status_code == 201, imported.text
        result = imported.json()
        assert [(m["matched_by"], m["allocations"][0]["invoice"]) for m in result["matched"]] == [
            ("reference", issued["a"]["document_number"]), ("amount", issued["b"]["document_number"])]
        assert [u["amount"] for u in result["unmatched"]] == ["77.77"]
        waiting = api_client.get("/v1/billing/bank-lines", headers=finance).json()["lines"]
        assert "who knows" in {line["reference"] for line in waiting}

        # Beta's paid invoice frees its credit: the order refused above now books
        status, body = _book(api_client, heads["b"], offers[stays[0]], stays[0])
        assert status == 201, body

        docs = {n: api_client.get(f"/v1/billing/invoices/{issued[n]['id']}", headers=finance).json() for n in "abc"}
        assert docs["a"]["status"] == "partially_paid" and docs["a"]["balance"]["paid"] == str(half)
        assert docs["b"]["status"] == "paid" and docs["c"]["status"] == "credited"

        _statements(engine, settings, second)
        [alpha_second] = api_client.get(f"/v1/statements?period_start={second.key}", headers=heads["a"]).json()[
            "statements"]
        total_a = Decimal(issued["a"]["total"])
        assert alpha_second["balance"] == {"currency": "CNY", "opening": "0.00", "invoiced": str(total_a),
                                           "payments_received": str(half), "closing": str(total_a - half)}

        due = dt.date.fromisoformat(issued["a"]["due_on"])
        report = api_client.get(f"/v1/billing/ageing?as_of={due + dt.timedelta(days=40)}", headers=finance).json()
        rows = {r["partner_id"]: r for r in report["partners"]}
        assert rows[str(a.partner_id)]["31-60"] == str(total_a - half)
        assert str(b.partner_id) not in rows and str(c.partner_id) not in rows

        # each partner sees its own documents only
        mine = api_client.get("/v1/invoices", headers=heads["a"]).json()["invoices"]
        assert [d["document_number"] for d in mine] == [issued["a"]["document_number"]]
        assert api_client.get("/v1/invoices", headers=heads["a_sub"]).json()["invoices"] == []
        assert api_client.get(f"/v1/invoices/{issued['b']['id']}", headers=heads["a"]).status_code == 404
        assert api_client.get(f"/v1/invoices/{issued['b']['id']}/pdf", headers=heads["a"]).status_code == 404
        assert api_client.get(f"/v1/statements/{alpha_first['id']}", headers=heads["b"]).status_code == 404
        assert api_client.get("/v1/billing/ageing", headers=heads["a"]).status_code == 403
        c_docs = api_client.get("/v1/invoices", headers=heads["c"]).json()["invoices"]
        assert {d["kind"] for d in c_docs} == {"invoice", "credit_note"}
        pdf = api_client.get(mine[0]["pdf_url"], headers=heads["a"])
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = pdf_text(pdf.content)
        assert f"INVOICE {issued['a']['document_number']}" in text and f"{total_a:,} CNY" in text
        assert f"Alpha Kids {tag}" in text
    finally:
        sim.stop()
        if previous_url:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE suppliers SET base_url = :u WHERE code = 'A'"), {"u": previous_url})


def test_an_overdue_parent_invoice_refuses_a_sub_agents_order_with_a_clear_error(engine, settings, migrated,
                                                                                  redis_url):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.billing import invoices
    from core.billing.credit import FLAG
    from tests.api_fixtures import seed_city
    from tests.billing_fixtures import seed_billing_cycle
    from tests.settlement_fixtures import past_cycle

    cycle = past_cycle(15)
    seeded = seed_billing_cycle(engine, cycle)
    parent = seeded.partners["Parent"]
    store.set_profile(engine, parent, settings, entity=new_entity(engine), currency="USD", terms_days=7)
    statements.write_statements(engine, cycle, settings)
    overdue = invoices.issue_invoice(engine, settings, parent, cycle.start, "fin", issued_on=cycle.end)
    agent = create_partner(engine, f"Late Kids {secrets.token_hex(2)}", parent_id=uuid.UUID(parent))
    city = f"Billville {secrets.token_hex(2)}"
    start = dt.date.today() + dt.timedelta(days=20)
    seed_city(engine, redis_url, city=city, hotels=1, start=start, nights=3)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE feature_flags SET enabled = true WHERE name = :n"), {"n": FLAG})
    try:
        with TestClient(create_app(settings, migrated), raise_server_exceptions=False) as client:
            headers = auth(client, agent)
            quote = client.post("/v1/quotes", headers=headers, json={
                "city": city, "check_in": start.isoformat(), "check_out": (start + dt.timedelta(days=2)).isoformat(),
                "rooms": 1, "adults": 1})
            assert quote.status_code == 200 and quote.json()["offers"], quote.text
            order = client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                                json=order_body(quote.json()["offers"][0]["offer_id"]))
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE feature_flags SET enabled = false WHERE name = :n"), {"n": FLAG})
    assert order.status_code == 402, order.text
    error = order.json()["error"]
    assert error["code"] == "invoices_overdue" and overdue["document_number"] in error["message"]
    assert "more than 30 days overdue" in error["message"]
