"""Partner billing against real PostgreSQL: statements (sub-agents under their parent), invoices with one
gap-free sequence per entity (also when two processes issue at once), credit notes, payments and bank lines,
ageing, immutability enforced by the database."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.billing import ageing, invoices, payments, statements, store
from core.billing.store import BillingError
from tests.billing_fixtures import far_cycle, new_entity, pdf_text, seed_billing_cycle, set_rate


@pytest.fixture
def billed(engine, settings):
    cycle = far_cycle(0)
    seeded = seed_billing_cycle(engine, cycle)
    entity = new_entity(engine)
    set_rate(engine, "USD", "CNY", "7.1", cycle.start - dt.timedelta(days=3))
    set_rate(engine, "USD", "CNY", "9.9", cycle.end + dt.timedelta(days=30))  # not yet in force at issue
    for name in ("Parent", "Other"):
        store.set_profile(engine, seeded.partners[name], settings, country="CN", currency="CNY", terms_days=14,
                          entity=entity)
    return seeded, entity


def test_statement_rolls_sub_agents_under_their_parent_and_shows_them_apart(engine, settings, billed):
    seeded, _ = billed
    outcome = statements.write_statements(engine, seeded.cycle, settings, run_id="t")
    parent, sub, other = (seeded.partners[n] for n in ("Parent", "Sub", "Other"))
    assert outcome.actions[parent] == "created" and outcome.actions[other] == "created" and sub not in outcome.actions
    [mine] = statements.list_statements(engine, parent, seeded.cycle.start)
    assert mine["totals"]["USD"] == {"orders": "3", "sell": "300.00", "commission": "25.00",
                                     "charges": "305.00", "margin": "55.0000"}
    agents = {a["agent_name"].split()[0]: a["totals"]["USD"]["charges"] for a in mine["agents"]}
    assert agents == {"Parent": "210.00", "Sub": "95.00"}  # 200 less 10 % + the 30 cancellation fee; 100 less 5 %
    assert mine["balance"] == {"currency": "CNY", "opening": "0.00", "invoiced": "0.00", "payments_received": "0.00",
                               "closing": "0.00"}
    detail = statements.get_statement(engine, mine["id"], parent)
    assert [(line["agent_name"].split()[0], line["status"], line["charge"]) for line in detail["lines"]] == [
        ("Parent", "confirmed", "180.00"), ("Parent", "cancelled", "30.00"), ("Sub", "confirmed", "95.00")]
    assert statements.get_statement(engine, mine["id"], other) is None  # another partner's: not found
    assert not any(statements.verify_cycle(engine, seeded.cycle).values())

    again = statements.write_statements(engine, seeded.cycle, settings, run_id="t2")
    assert again.actions[parent] == "replaced"
    [rerun] = statements.list_statements(engine, parent, seeded.cycle.start)
    assert rerun["id"] == mine["id"] and rerun["revision"] == 1


def test_invoice_numbers_fx_tax_pdf_immutability_and_credit_note(engine, settings, billed):
    seeded, entity = billed
    parent, other = seeded.partners["Parent"], seeded.partners["Other"]
    statements.write_statements(engine, seeded.cycle, settings)
    with pytest.raises(BillingError, match="issued on or after"):
        invoices.issue_invoice(engine, settings, parent, seeded.cycle.start, "fin", issued_on=seeded.cycle.last_day)
    first = invoices.issue_invoice(engine, settings, parent, seeded.cycle.start, "fin", issued_on=seeded.cycle.end)
    second = invoices.issue_invoice(engine, settings, other, seeded.cycle.start, "fin", issued_on=seeded.cycle.end)
    assert (first["document_number"], second["document_number"]) == (f"{entity}-000001", f"{entity}-000002")
    # 180, 30 and 95 USD at 7.1 (the rate in force on the issue date), each rounded; 6 % VAT for CN
    assert [line["amount"] for line in first["lines"]] == ["1278.00", "213.00", "674.50"]
    assert first["fx_rates"] == {"USD": "7.10000000"} and first["currency"] == "CNY"
    assert (first["subtotal"], first["tax_rate"], first["tax_amount"], first["total"]) == (
        "2165.50", "0.0600", "129.93", "2295.43")
    assert first["due_on"] == (seeded.cycle.end + dt.timedelta(days=14)).isoformat()
    with pytest.raises(BillingError, match="already bills this cycle"):
        invoices.issue_invoice(engine, settings, parent, seeded.cycle.start, "fin", issued_on=seeded.cycle.end)

    name, content = invoices.document_pdf(engine, first["id"], parent)
    text = pdf_text(content)
    assert name == f"{entity}-000001.pdf" and f"INVOICE {entity}-000001" in text
    assert "Total due: 2,295.43 CNY" in text and "1 USD = 7.10000000 CNY" in text and "VAT 6.00% (CN)" in text
    assert invoices.document_pdf(engine, first["id"], other) is None

    # issued means frozen: the database refuses edits of the document and of the statement it billed
    for sql in ("UPDATE billing_documents SET total = 1 WHERE id = CAST(:id AS uuid)",
                "DELETE FROM billing_document_lines WHERE document_id = CAST(:id AS uuid)",
                "UPDATE partner_statements SET closing_balance = 0, opening_balance = 0, invoiced = 0,"
                " payments_received = 0 WHERE id = (SELECT statement_id FROM billing_documents WHERE id = CAST(:id"
                " AS uuid))"):
        with pytest.raises(sa.exc.IntegrityError, match="immutable|frozen"), engine.begin() as conn:
            conn.execute(sa.text(sql), {"id": first["id"]})
    rerun = statements.write_statements(engine, seeded.cycle, settings)
    assert rerun.actions[parent] == "kept (invoiced)"

    note = invoices.issue_credit_note(engine, settings, first["document_number"], "hotel charged twice", "fin",
                                      amount=Decimal("100"), issued_on=seeded.cycle.end)
    assert note["document_number"] == f"{entity}-000003" and note["credited_number"] == first["document_number"]
    assert (note["subtotal"], note["tax_amount"], note["total"]) == ("100.00", "6.00", "106.00")
    assert "CREDIT NOTE" in pdf_text(invoices.document_pdf(engine, note["id"])[1])
    after = invoices.get_document(engine, first["id"])
    assert after["balance"] == {"credited": "106.00", "paid": "0", "outstanding": "2189.43"}
    assert after["credit_notes"] == [note["document_number"]] and after["status"] == "partially_paid"
    with pytest.raises(BillingError, match="exceeds what is open"):
        invoices.issue_credit_note(engine, settings, first["document_number"], "too much", "fin",
                                   amount=Decimal("5000"), issued_on=seeded.cycle.end)
    with engine.connect() as conn:
        assert all(d == c for d, c in store.journal_balance(conn).values())


def test_payments_bank_lines_credit_and_ageing(engine, settings, billed):
    seeded, _ = billed
    parent, other = seeded.partners["Parent"], seeded.partners["Other"]
    statements.write_statements(engine, seeded.cycle, settings)
    invoice = invoices.issue_invoice(engine, settings, parent, seeded.cycle.start, "fin", issued_on=seeded.cycle.end)
    unpaid = invoices.issue_invoice(engine, settings, other, seeded.cycle.start, "fin", issued_on=seeded.cycle.end)
    number, paid_on = invoice["document_number"], seeded.cycle.end + dt.timedelta(days=2)
    bank = ("booked_on,amount,currency,reference,counterparty\n"
            f"{paid_on},1000.00,CNY,Payment {number} thanks,Parent Travel\n"
            f"{paid_on},12.34,CNY,unknown transfer,Someone\n")
    result = payments.import_bank_statement(engine, bank, "bank.csv", "fin")
    assert [m["allocations"] for m in result["matched"]] == [[{"invoice": number, "amount": "1000.00"}]]
    assert [u["reference"] for u in result["unmatched"]] == ["unknown transfer"]
    assert payments.import_bank_statement(engine, bank, "bank.csv", "fin")["already_imported"] == 2
    assert invoices.get_document(engine, number)["balance"]["outstanding"] == "1295.43"

    with pytest.raises(BillingError, match="line 2, column amount"):
        payments.import_bank_statement(engine, "booked_on,amount,currency,reference\n2030-01-01,abc,CNY,x\n", None,
                                       "fin")
    overpaid = payments.record_payment(engine, None, "1345.43", "CNY", paid_on, "fin", reference="rest",
                                       invoice=number)
    assert overpaid["allocations"] == [{"invoice": number, "amount": "1295.43"}] and overpaid["credit"] == "50.00"
    assert invoices.get_document(engine, number)["status"] == "paid"

    report = ageing.ageing(engine, unpaid["due_on"] and dt.date.fromisoformat(unpaid["due_on"]) + dt.timedelta(
        days=45))
    rows = {r["partner_id"]: r for r in report["partners"]}
    assert rows[parent]["open"] == "0" and rows[parent]["credit"] == "50.00"
    assert rows[other]["31-60"] == unpaid["total"] and rows[other]["current"] == "0"
    before_due = ageing.ageing(engine, dt.date.fromisoformat(unpaid["due_on"]), other)
    assert before_due["partners"][0]["current"] == unpaid["total"]
    assert "as_of,partner_id" in ageing.ageing_csv(report)

    # the unmatched line, reviewed: credited to the parent, then spent on its next invoice
    [line] = [x for x in payments.list_bank_lines(engine) if x["reference"] == "unknown transfer"]
    assert payments.review_bank_line(engine, line["id"], "fin", partner_id=parent)["status"] == "assigned"
    with engine.connect() as conn:
        assert payments.credit_balances(conn, parent) == {(parent, "CNY"): Decimal("62.34")}


def _issue_many(database_url: str, partner_ids: list[str], period_start: str, issued_on: str, barrier) -> list:
    from core.db import engine_for
    from core.settings import Settings

    settings = Settings(database_url=database_url)
    engine = engine_for(database_url)
    barrier.wait(timeout=60)
    numbers = []
    for partner_id in partner_ids:
        document = invoices.issue_invoice(engine, settings, partner_id, dt.date.fromisoformat(period_start),
                                          "proc", issued_on=dt.date.fromisoformat(issued_on))
        numbers.append(document["document_number"])
    return numbers


def test_two_processes_issuing_at_once_leave_no_gap_and_no_duplicate(engine, settings, database_url):
    cycle = far_cycle(3)
    entity = new_entity(engine)
    set_rate(engine, "USD", "CNY", "7.2", cycle.start)
    partners = []
    for _ in range(6):
        seeded = seed_billing_cycle(engine, cycle)
        for name in ("Parent", "Other"):
            store.set_profile(engine, seeded.partners[name], settings, entity=entity)
            partners.append(seeded.partners[name])
    statements.write_statements(engine, cycle, settings)
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(2)
    with context.Pool(2) as pool:
        halves = [pool.apply_async(_issue_many, (database_url, partners[i::2], cycle.key, cycle.end.isoformat(),
                                                 barrier)) for i in range(2)]
        issued = [number for half in halves for number in half.get(timeout=120)]
    with engine.connect() as conn:
        numbers = [r.number for r in conn.execute(sa.text(
            "SELECT number FROM billing_documents WHERE entity_code = :e ORDER BY number"), {"e": entity})]
    assert numbers == list(range(1, len(partners) + 1))
    assert sorted(issued) == sorted(f"{entity}-{n:06d}" for n in numbers)


def test_dagster_asset_builds_a_past_cycle_with_passing_checks(engine, settings, migrated):
    import dagster as dg

    from assets.billing import partner_statements
    from pipelines.resources import PostgresResource
    from tests.settlement_fixtures import past_cycle

    cycle = past_cycle(5)
    seeded = seed_billing_cycle(engine, cycle)

    def materialize():
        result = dg.materialize([partner_statements], partition_key=cycle.key,
                                resources={"postgres": PostgresResource(database_url=migrated.database_url)})
        assert result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        metadata = result.asset_materializations_for_node("partner_statements")[0].metadata
        return checks, {k: v.value for k, v in metadata.items()}

    checks, metadata = materialize()
    assert checks == {"statements_match_orders": True, "billing_journal_balances": True}
    parent_name = next(n for n in metadata["actions"] if n.startswith("Parent "))
    assert metadata["actions"][parent_name] == "created"
    _, again = materialize()
    assert again["actions"][parent_name] == "replaced"  # a rerun replaces, never duplicates
    [one] = statements.list_statements(engine, seeded.partners["Parent"], cycle.start)
    assert one["revision"] == 1 and len(statements.get_statement(engine, one["id"])["lines"]) == 3


async def test_an_invoice_overdue_past_the_limit_pauses_orders_only_with_the_flag(engine, settings, migrated):
    from types import SimpleNamespace

    import asyncpg

    from core.billing.credit import FLAG, overdue_refusal
    from core.db import plain_url
    from tests.settlement_fixtures import past_cycle

    cycle = past_cycle(12)
    seeded = seed_billing_cycle(engine, cycle)
    parent, sub = seeded.partners["Parent"], seeded.partners["Sub"]
    store.set_profile(engine, parent, settings, entity=new_entity(engine), currency="USD", terms_days=10)
    statements.write_statements(engine, cycle, settings)
    invoice = invoices.issue_invoice(engine, settings, parent, cycle.start, "fin", issued_on=cycle.end)
    state = SimpleNamespace(config=None, endpoints=migrated, settings=settings.model_copy(
        update={"billing_overdue_block_days": 30}))
    due = dt.date.fromisoformat(invoice["due_on"])
    conn = await asyncpg.connect(plain_url(migrated.database_url))
    try:
        assert await overdue_refusal(state, conn, sub) is None  # flag off
        with engine.begin() as db:
            db.execute(sa.text("UPDATE feature_flags SET enabled = true WHERE name = :n"), {"n": FLAG})
        try:
            refusal = await overdue_refusal(state, conn, sub)  # the sub-agent is paused by its parent's invoice
            assert refusal is not None and invoice["document_number"] in refusal and "30 days overdue" in refusal
            assert await overdue_refusal(state, conn, parent, today=due + dt.timedelta(days=30)) is None
            payments.record_payment(engine, parent, invoice["total"], "USD", due, "fin", invoice=invoice["id"])
            assert await overdue_refusal(state, conn, parent) is None
        finally:
            with engine.begin() as db:
                db.execute(sa.text("UPDATE feature_flags SET enabled = false WHERE name = :n"), {"n": FLAG})
    finally:
        await conn.close()


def test_receivables_and_dso_reach_the_bi_report(engine, settings, migrated):
    from assets.warehouse import _check_results
    from tests.settlement_fixtures import past_cycle
    from warehouse.client import warehouse_client
    from warehouse.loaders import FACTS, load_fact
    from warehouse.reports import Filters, build_report
    from warehouse.schema import apply_schema
    from warehouse.sql_models import ensure_table, load_models, materialize

    cycle = past_cycle(20)
    seeded = seed_billing_cycle(engine, cycle)
    parent = seeded.partners["Parent"]
    store.set_profile(engine, parent, settings, entity=new_entity(engine), currency="USD", terms_days=30)
    statements.write_statements(engine, cycle, settings)
    invoice = invoices.issue_invoice(engine, settings, parent, cycle.start, "fin", issued_on=cycle.end)
    invoices.issue_credit_note(engine, settings, invoice["id"], "goodwill", "fin", amount=Decimal("100"),
                               issued_on=cycle.end)
    payments.record_payment(engine, parent, "150.00", "USD", cycle.end + dt.timedelta(days=5), "fin",
                            invoice=invoice["id"])
    start, end = cycle.start, cycle.end + dt.timedelta(days=10)
    models = load_models()
    with warehouse_client(migrated.clickhouse_url, lock_timeout_s=120) as client:
        apply_schema(client)
        for name in ("billing_documents", "billing_payments"):
            load_fact(client, migrated.database_url, FACTS[name], start, end)
        ensure_table(client, models["daily_sales"])
        materialize(client, models["daily_receivables"], start, end)
        checks = {r.check_name: r.passed for r in _check_results(client, models["daily_receivables"], start, end)}
        report = build_report(client, "receivables", Filters(start, end - dt.timedelta(days=1), partner=parent))
    assert checks == {"reconciles_with_inputs": True, "not_negative": True}
    [section] = report.sections
    [row] = section.rows
    # 305 USD + 6 % tax (CN, the default country) = 323.30 invoiced, 100 + 6 credited, 150 paid: 67.30 open
    assert row[1:6] == ["USD", Decimal("323.30"), Decimal("106.00"), Decimal("150.00"), Decimal("67.30")]
    assert row[6] == (Decimal("67.30") / Decimal("217.30") * 90).quantize(Decimal("0.1"))


def test_a_reconciled_cycle_requests_its_partner_statements():
    import dagster as dg

    from assets.billing import statements_after_reconciliation
    from pipelines.definitions import defs

    with dg.instance_for_test() as instance:
        nothing = statements_after_reconciliation.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert not nothing.run_requests
        instance.report_runless_asset_event(dg.AssetMaterialization("settlement_reconciliation",
                                                                    partition="2025-03-03"))
        tick = statements_after_reconciliation.evaluate_tick(dg.build_sensor_context(instance=instance,
                                                                                     definitions=defs))
        [request] = tick.run_requests
        assert request.partition_key == "2025-03-03"
        assert statements_after_reconciliation.job_name == "partner_statements_job"
        later = statements_after_reconciliation.evaluate_tick(dg.build_sensor_context(
            instance=instance, cursor=tick.cursor, definitions=defs))
        assert not later.run_requests  # once per materialization
